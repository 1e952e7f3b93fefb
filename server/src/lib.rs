//! The `certdesk` binary's library half: command line, router and middleware. Kept as a
//! library so that integration tests run the very same router on a loopback port.

pub mod cli;
pub mod web;
