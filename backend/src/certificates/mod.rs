//! Certificate use cases: the one lifecycle flow ([`flow`]) with its two strategies, bulk runs
//! ([`bulk`]), the dashboard ([`dashboard`]), and the views the Certificates page needs.
//!
//! Crash safety: with the embedded CA a certificate is signed *inside* the transaction that
//! inserts its row, its sealed key and its audit row, so a signature that is not committed
//! never left the process; with an external CA the request is recorded before the call and
//! settled by serial when its answer is lost. The partial unique index
//! `certificates_one_valid_per_user` makes a re-run after a crash unable to create a second
//! valid certificate for anyone.

pub mod bulk;
pub mod dashboard;
mod flow;
mod through_ca;

use crate::ca::profile::load_profile;
use crate::error::ServiceError;
use crate::store::certificates::{read_view, read_view_at, CERT_COLUMNS};
use crate::Backend;
use certdesk_domain::lifecycle::LifecycleError;
use rusqlite::OptionalExtension;

pub use certdesk_domain::views::{CertificateView, UserCertificates};
pub use certdesk_domain::Operation;

impl Backend {
    /// Every user (not deleted) with their newest certificate, by login ID.
    pub async fn certificate_overview(&self) -> Result<Vec<UserCertificates>, ServiceError> {
        let now = self.clock().now();
        self.db()
            .run(move |conn| {
                let profile = load_profile(conn)?;
                // One query: each user with their newest certificate (if any), columns 7.. are
                // CERT_COLUMNS.
                let mut stmt = conn.prepare(&format!(
                    "SELECT u.id, u.login_id, u.name, u.role, u.locked_at IS NOT NULL, u.email, u.password_hash IS NOT NULL, {CERT_COLUMNS}
                     FROM users u
                     LEFT JOIN certificates c ON c.id = (SELECT max(id) FROM certificates WHERE user_id = u.id)
                     WHERE u.deleted_at IS NULL ORDER BY u.login_key"
                ))?;
                let out = stmt
                    .query_map([], |r| {
                        let has_certificate = r.get::<_, Option<i64>>(7)?.is_some();
                        Ok(UserCertificates {
                            user_id: r.get(0)?,
                            login_id: r.get(1)?,
                            name: r.get(2)?,
                            email: r.get(5)?,
                            role: crate::users::stored_role(r, 3)?,
                            locked: r.get(4)?,
                            has_password: r.get(6)?,
                            current: if has_certificate { Some(read_view_at(r, 7, now, &profile)?) } else { None },
                        })
                    })?
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(out)
            })
            .await
    }

    /// One certificate by serial, and the history of its user (newest first).
    pub async fn certificate_detail(
        &self,
        serial: String,
    ) -> Result<(CertificateView, Vec<CertificateView>), ServiceError> {
        let now = self.clock().now();
        self.db()
            .run(move |conn| {
                let profile = load_profile(conn)?;
                let sql = format!(
                    "SELECT {CERT_COLUMNS} FROM certificates c JOIN users u ON u.id = c.user_id"
                );
                let cert = conn
                    .query_row(
                        &format!("{sql} WHERE c.serial = ?1"),
                        [serial.to_ascii_lowercase()],
                        |r| read_view(r, now, &profile),
                    )
                    .optional()?
                    .ok_or(LifecycleError::CertificateNotFound { serial })?;
                let mut stmt =
                    conn.prepare(&format!("{sql} WHERE c.user_id = ?1 ORDER BY c.id DESC"))?;
                let history = stmt
                    .query_map([cert.user_id], |r| read_view(r, now, &profile))?
                    .collect::<Result<Vec<_>, _>>()?;
                Ok((cert, history))
            })
            .await
    }

    /// The certificate's DER bytes by serial.
    pub async fn certificate_der(&self, serial: String) -> Result<Vec<u8>, ServiceError> {
        self.db()
            .run(move |conn| {
                conn.query_row(
                    "SELECT cert_der FROM certificates WHERE serial = ?1",
                    [serial.to_ascii_lowercase()],
                    |r| r.get(0),
                )
                .optional()?
                .ok_or(LifecycleError::CertificateNotFound { serial }.into())
            })
            .await
    }
}
