//! Storage: the SQLite database and its migrations, secrets sealed at rest, the audit log.

pub mod audit;
pub mod db;
pub mod migrations;
pub mod secrets;
