//! The schedule of backups in effect.

use crate::error::ServiceError;
use crate::Backend;
use time::Duration;

impl Backend {
    /// The interval of scheduled backups in effect (none: no schedule).
    pub async fn backup_interval(&self) -> Result<Option<Duration>, ServiceError> {
        Ok(self.settings().backup_every)
    }
}
