//! HTTP-level integration tests: the real router on a loopback port, a real SQLite file.

mod abuse_auth;
mod abuse_distribution;
mod abuse_limits;
mod abuse_misc;
mod auth;
mod backup_settings;
mod bulk;
mod bundle;
mod certificates;
mod dashboard;
mod distribution;
mod enroll;
mod enroll_console;
mod external_ca;
mod frictions;
mod mtls;
mod notices;
mod otp;
mod pages;
mod self_renewal;
mod serving;
mod setup;
mod tls;
mod users;
mod workbooks;
