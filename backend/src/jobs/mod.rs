//! The background jobs the server runs: each is one run that can be called and tested on its
//! own (`run_once`, the shape of zero-to-production's `try_execute_task`), and a loop that
//! repeats it on its period (`run`). A run logs how it went (once, here, where it is
//! handled) and returns what it did; a failed run never stops its loop.
//!
//! | job | period | what one run does |
//! |---|---|---|
//! | [`crl`] | hourly | re-signs the embedded CA's CRL once it is a day old |
//! | [`sweep`] | every 10 minutes | settles lost answers of the external CA, erases keys |
//! | [`notices`] | at start-up, then daily at the configured hour (JST) | records renewal notices, queues their mail |
//! | [`mail`] | when notices queue mail, at least every 30 seconds | sends due mail |
//!
//! [`start`] is what the server calls once at start-up.

pub mod crl;
pub mod mail;
pub mod notices;
pub mod sweep;

use crate::{Backend, ServiceError};

/// Settles what the last process left unfinished, then starts every job on its own task:
/// requests still waiting for the CA become `unanswered`, unfinished bulk runs resume, bundles
/// that were being built are marked abandoned (they cannot resume), and
/// the CRL, sweep, notice and mail loops start. Mail is sent by its own task so that a slow
/// or failing SMTP server never holds up the notice job.
pub async fn start(backend: &Backend) -> Result<(), ServiceError> {
    backend.settle_ca_requests().await?;
    backend.resume_bulk_runs().await?;
    backend.abandon_bundle_runs().await?;
    tokio::spawn(crl::run(backend.clone()));
    tokio::spawn(sweep::run(backend.clone()));
    tokio::spawn(notices::run(backend.clone()));
    tokio::spawn(mail::run(backend.clone()));
    Ok(())
}

#[cfg(test)]
pub(crate) mod test_support {
    use crate::{Backend, Clock, Settings};

    /// A backend on a fresh data directory, not set up (no organisation, no CA).
    pub(crate) fn fresh_backend() -> (Backend, tempfile::TempDir) {
        let dir = tempfile::tempdir().expect("tempdir");
        let backend =
            Backend::open(Settings::new(dir.path()), Clock::system()).expect("backend opens");
        (backend, dir)
    }
}
