//! The background jobs the server runs: each is one run that can be called and tested on its
//! own, and a loop that repeats it on its period.
