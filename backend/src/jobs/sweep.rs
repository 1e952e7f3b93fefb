//! The sweep: requests to the external CA whose answer was lost are settled by their serial,
//! and private keys and prepared downloads that must not stay are erased (keys whose
//! re-download window closed, keys of certificates that ended, expired files and sheets).

use crate::ca::reconcile::ReconcileReport;
use crate::{Backend, ServiceError};
use std::time::Duration;

/// How often the sweep runs (and once at start-up).
pub const PERIOD: Duration = Duration::from_secs(600);

/// What one sweep did. The two halves are independent: one failing does not skip the other.
#[derive(Debug)]
pub struct SweepRun {
    /// Requests to the external CA settled.
    pub ca_requests: Result<ReconcileReport, ServiceError>,
    /// Private keys erased.
    pub keys_erased: Result<usize, ServiceError>,
}

/// One run: settles lost CA answers, then erases what must not stay; each half logs how it
/// went.
pub async fn run_once(backend: &Backend) -> SweepRun {
    let ca_requests = backend.reconcile_ca_requests().await;
    match &ca_requests {
        Ok(r) if r.revoked_at_ca + r.never_issued > 0 => tracing::info!(
            ca.revoked = r.revoked_at_ca,
            ca.never_issued = r.never_issued,
            "settled requests whose answer was lost"
        ),
        Ok(_) => {}
        Err(e) => {
            tracing::error!(error.code = e.code(), error.detail = %e, "settling CA requests failed")
        }
    }
    let keys_erased = backend.sweep_distribution().await;
    match &keys_erased {
        Ok(0) => {}
        Ok(n) => tracing::info!(keys.erased = n, "erased private keys after delivery"),
        Err(e) => tracing::error!(error.code = e.code(), error.detail = %e, "key sweep failed"),
    }
    SweepRun {
        ca_requests,
        keys_erased,
    }
}

/// Runs [`run_once`] now and then every [`PERIOD`]. Never returns.
pub async fn run(backend: Backend) {
    let mut tick = tokio::time::interval(PERIOD);
    loop {
        tick.tick().await;
        run_once(&backend).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jobs::test_support::fresh_backend;

    #[tokio::test]
    async fn a_sweep_of_an_empty_database_settles_and_erases_nothing() {
        let (backend, _dir) = fresh_backend();
        let run = run_once(&backend).await;
        assert_eq!(
            run.ca_requests.expect("ca requests"),
            ReconcileReport::default()
        );
        assert_eq!(run.keys_erased.expect("keys"), 0);
    }
}
