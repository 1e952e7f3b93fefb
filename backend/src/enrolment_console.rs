//! What the console shows about self-service enrolment besides the enrolments themselves
//! (issue 17): whose current certificate has a key its holder made (the Distribution page
//! offers no server-made file for them) and how many certificates their holders renewed on
//! the check page (the dashboard).

use crate::error::ServiceError;
use crate::store::db::ts;
use crate::Backend;

impl Backend {
    /// The users (ids, ascending) whose valid certificate has a key made by its holder.
    pub async fn holder_key_users(&self) -> Result<Vec<i64>, ServiceError> {
        let now = ts(self.clock().now());
        self.db()
            .run(move |conn| {
                let mut stmt = conn.prepare(
                    "SELECT DISTINCT user_id FROM certificates
                     WHERE key_origin = 'holder' AND state = 'valid' AND not_after > ?1
                     ORDER BY user_id",
                )?;
                let ids = stmt
                    .query_map([now], |r| r.get::<_, i64>(0))?
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(ids)
            })
            .await
    }

    /// How many renewals the holders made themselves on the check page (confirmed ones).
    pub async fn self_renewed_count(&self) -> Result<u32, ServiceError> {
        self.db()
            .run(|conn| {
                Ok(conn.query_row(
                    "SELECT COUNT(*) FROM self_renewals WHERE confirmed_at IS NOT NULL",
                    [],
                    |r| r.get::<_, u32>(0),
                )?)
            })
            .await
    }
}
