//! HTTP-level integration tests: the real router on a loopback port, a real SQLite file.

mod auth;
mod bulk;
mod certificates;
mod distribution;
mod external_ca;
mod mtls;
mod pages;
mod setup;
mod users;
