//! HTTP-level integration tests: the real router on a loopback port, a real SQLite file.

mod abuse_auth;
mod abuse_distribution;
mod abuse_limits;
mod abuse_misc;
mod auth;
mod bulk;
mod certificates;
mod dashboard;
mod distribution;
mod external_ca;
mod mtls;
mod notices;
mod pages;
mod setup;
mod users;
mod workbooks;
