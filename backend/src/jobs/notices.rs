//! The notice job: renewal notices are recorded and their mail queued at start-up and then
//! every day at the configured hour (JST). The mail itself is sent by [`super::mail`].

use crate::notices::NoticeRun;
use crate::{Backend, ServiceError};
use certdesk_domain::notices::next_daily_run;
use certdesk_domain::profile::JST;
use time::Duration;

/// The hour (JST) the job runs at when the settings cannot be read.
const DEFAULT_HOUR: u8 = 8;

/// The longest the loop sleeps, so that a changed hour or a moved clock is noticed.
pub const LONGEST_WAIT: Duration = Duration::minutes(10);

/// One run of the daily job ([`Backend::run_notice_job`]), logged.
pub async fn run_once(backend: &Backend) -> Result<NoticeRun, ServiceError> {
    let result = backend.run_notice_job().await;
    match &result {
        Ok(run) => tracing::info!(
            notices.recorded = run.recorded,
            mail.queued = run.queued,
            "notice job ran"
        ),
        Err(e) => tracing::error!(error.code = e.code(), error.detail = %e, "notice job failed"),
    }
    result
}

/// Runs [`run_once`] now and then every day at the configured hour (JST). Never returns.
pub async fn run(backend: Backend) {
    let mut last_run = backend.clock().now();
    let _ = run_once(&backend).await;
    loop {
        let hour = backend
            .notification_settings()
            .await
            .map_or(DEFAULT_HOUR, |s| s.daily_hour);
        let next = next_daily_run(last_run, hour, JST);
        let now = backend.clock().now();
        if now >= next {
            last_run = now;
            let _ = run_once(&backend).await;
            continue;
        }
        let wait = (next - now).min(LONGEST_WAIT);
        tokio::time::sleep(std::time::Duration::from_secs_f64(
            wait.as_seconds_f64().max(1.0),
        ))
        .await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jobs::test_support::fresh_backend;

    #[tokio::test]
    async fn a_run_without_certificates_records_no_notice() {
        let (backend, _dir) = fresh_backend();
        assert_eq!(run_once(&backend).await.expect("run"), NoticeRun::default());
    }
}
