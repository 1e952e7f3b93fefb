//! The users CSV file: reading what people save from Excel, planning an import against the
//! users already stored, and writing exports and the template. Pure: bytes in, values out; the
//! backend does the I/O and the transaction.
//!
//! Reading ([`read_users_file`]) either rejects the whole file ([`FileError`], nothing of it
//! is used) or returns a [`ParsedFile`]: the rows that are fine, and a [`RowProblem`] for each
//! bad field of each bad row, with the row and column as Excel shows them. Planning
//! ([`plan_import`]) adds the problems that need the stored users (login ID taken, user limit,
//! master role). An import writes only a plan whose [`ImportPlan::is_clean`] holds.
//!
//! - `read`: the file's bytes to a [`ParsedFile`] (format, encodings, the reader);
//! - `plan`: a [`ParsedFile`] against the stored users to an [`ImportPlan`];
//! - `export`: users to CSV bytes, and the template;
//! - `formula`: the formula escaping both directions share.

mod export;
mod formula;
mod plan;
mod read;

pub use export::{
    csv_cell, template_csv, write_users_csv, ExportEncoding, ExportError, ExportRow, EXPORT_HEADER,
};
pub use plan::{plan_import, ExistingUser, ImportMode, ImportPlan, PlannedRow, RowAction};
pub use read::{
    parse_role, read_users_file, ColumnRef, Encoding, FileError, FileRow, HeaderColumns,
    ParsedFile, RowProblem, Separator, MAX_DATA_ROWS, MAX_FILE_BYTES,
};

/// Row problem: a row has more or fewer fields than the header.
pub const CODE_RAGGED_ROW: &str = "E-CSV-010";
/// Row problem: a required field is empty.
pub const CODE_REQUIRED_EMPTY: &str = "E-CSV-011";
/// Row problem: the role is not one of the accepted names.
pub const CODE_UNKNOWN_ROLE: &str = "E-CSV-012";
/// Row problem: the login ID appears on an earlier row of the same file.
pub const CODE_DUPLICATE_LOGIN_ID: &str = "E-CSV-013";
/// Row problem: a double quote opened in the row is never closed.
pub const CODE_UNCLOSED_QUOTE: &str = "E-CSV-015";
/// Plan problem: the user limit would be exceeded by this row.
pub const CODE_USER_LIMIT: &str = "E-USER-002";
/// Plan problem: the login ID exists with other data (add-only mode).
pub const CODE_LOGIN_ID_EXISTS: &str = "E-USER-003";
/// Plan problem: the master role cannot be given by import.
pub const CODE_MASTER_NOT_GIVEN: &str = "E-USER-005";
/// Plan problem: only a master changes a master's name or e-mail (as `update_user`).
pub const CODE_MASTER_CHANGED_BY_NON_MASTER: &str = "E-AUTH-004";
/// Plan problem: a master's role cannot be changed by import.
pub const CODE_MASTER_ROLE_KEPT: &str = "E-USER-006";

#[cfg(test)]
mod tests;
