//! The `certdesk` binary's library half: command line, router and middleware. Kept as a
//! library so that integration tests run the very same router on a loopback port.

// The Users page's view type is deep; rendering it in the router needs more room.
#![recursion_limit = "512"]

pub mod backup_cli;
pub mod certs_cli;
pub mod check;
pub mod check_renew;
pub mod cli;
pub mod enrol_sheet;
pub mod enroll_page;
pub mod logging;
pub mod serving;
pub mod sheet;
pub mod tls;
pub mod web;
