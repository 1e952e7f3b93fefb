//! What the console shows about self-service enrolment besides the enrolments themselves
//! (issue 17): whose current certificate has a key its holder made (the Distribution page
//! offers no server-made file for them).

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
}
