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
//! - `formula`: the formula escaping both directions share;
//! - `cells`: workbook cells (decoded by the backend) and Excel's cell names (`B7`).

mod cells;
mod export;
mod formula;
mod plan;
mod read;

pub use cells::{
    cell_name, column_letters, CellRange, FoldedValue, SheetCell, SheetChoice, SheetRow,
};
pub use export::{
    csv_cell, template_csv, write_users_csv, ExportEncoding, ExportError, ExportRow, EXPORT_HEADER,
};
pub use plan::{plan_import, ExistingUser, ImportMode, ImportPlan, PlannedRow, RowAction};
pub use read::{
    parse_role, read_users_file, read_users_sheet, ColumnRef, Encoding, FileError, FileRow,
    HeaderColumns, ParsedFile, RowProblem, Separator, MAX_DATA_ROWS, MAX_FILE_BYTES,
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
/// Row problem (workbooks): a user field's cell holds a number or TRUE/FALSE, not text.
pub const CODE_NOT_TEXT: &str = "E-CSV-022";
/// Row problem (workbooks): a user field's cell holds a date or time.
pub const CODE_DATE_CELL: &str = "E-CSV-023";
/// Row problem (workbooks): a user field's cell holds a formula's error value (`#N/A`).
pub const CODE_ERROR_VALUE: &str = "E-CSV-024";
/// Row problem: a data row names the columns again (a second header row).
pub const CODE_SECOND_HEADER: &str = "E-CSV-025";
/// Largest workbook accepted (`.xlsx`, `.xlsm`, `.xls`, `.ods`): 5 MiB.
pub const MAX_WORKBOOK_BYTES: usize = 5 * 1024 * 1024;

#[cfg(test)]
mod tests;
