//! The CRL job: the embedded CA's CRL is re-signed once it is a day old, even without
//! revocations, so that relying parties never hold one past its next update.

use crate::{Backend, ServiceError};
use std::time::Duration;

/// How often the job looks at the CRL's age.
pub const PERIOD: Duration = Duration::from_secs(3600);

/// How old the newest CRL may get before it is re-signed.
pub const MAX_AGE: time::Duration = time::Duration::days(1);

/// One run: publishes a new CRL if the newest is [`MAX_AGE`] old (nothing before the CA
/// exists). Returns the new CRL's number if it published one.
pub async fn run_once(backend: &Backend) -> Result<Option<u64>, ServiceError> {
    let result = backend.refresh_crl(MAX_AGE).await;
    match &result {
        Ok(Some(n)) => tracing::info!(crl.number = n, "published the daily CRL"),
        Ok(None) => {}
        Err(e) => tracing::error!(error.code = e.code(), error.detail = %e, "daily CRL failed"),
    }
    result
}

/// Runs [`run_once`] now and then every [`PERIOD`]. Never returns.
pub async fn run(backend: Backend) {
    let mut tick = tokio::time::interval(PERIOD);
    loop {
        tick.tick().await;
        let _ = run_once(&backend).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jobs::test_support::fresh_backend;

    #[tokio::test]
    async fn before_the_ca_exists_a_run_publishes_nothing() {
        let (backend, _dir) = fresh_backend();
        assert_eq!(run_once(&backend).await.expect("run"), None);
    }
}
