//! Storage: the SQLite database and its migrations, secrets sealed at rest, the audit log, and
//! the steps on the certificates table that the lifecycle operations are made of.

pub mod audit;
pub(crate) mod certificates;
pub mod db;
pub mod migrations;
pub mod secrets;
