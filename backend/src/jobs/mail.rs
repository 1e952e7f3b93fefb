//! The mail sender: sends the mail the notice job queued, and retries mail that failed, as
//! soon as notices queue some and at least every [`LONGEST_WAIT`].

use crate::notices::MailRound;
use crate::{Backend, ServiceError};
use std::time::Duration;

/// The longest the sender waits between rounds (retries are due without a wake-up).
pub const LONGEST_WAIT: Duration = Duration::from_secs(30);

/// One round ([`Backend::send_due_mail`]), logged when it sent or failed something.
pub async fn run_once(backend: &Backend) -> Result<MailRound, ServiceError> {
    let result = backend.send_due_mail().await;
    match &result {
        Ok(r) if r.sent + r.failed > 0 => {
            tracing::info!(mail.sent = r.sent, mail.failed = r.failed, "mail round")
        }
        Ok(_) => {}
        Err(e) => tracing::error!(error.code = e.code(), error.detail = %e, "mail round failed"),
    }
    result
}

/// Runs [`run_once`] now, then whenever notices queue mail and at least every
/// [`LONGEST_WAIT`]. Never returns.
pub async fn run(backend: Backend) {
    loop {
        let _ = run_once(&backend).await;
        let _ = tokio::time::timeout(LONGEST_WAIT, backend.mail_wake().notified()).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jobs::test_support::fresh_backend;

    #[tokio::test]
    async fn a_round_with_nothing_queued_sends_nothing() {
        let (backend, _dir) = fresh_backend();
        assert_eq!(
            run_once(&backend).await.expect("round"),
            MailRound::default()
        );
    }
}
