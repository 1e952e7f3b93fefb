//! Workbook cells as the reader takes them: the backend decodes a workbook (`.xlsx`, `.xlsm`,
//! `.xls`, `.ods`) into rows of [`SheetCell`]s at the positions Excel shows, and
//! [`read_users_sheet`](super::read_users_sheet) reads them like the rows of a CSV file.
//! Workbook decoding needs a ZIP and XML reader that this crate (built for wasm as well) does
//! not carry.

use serde::{Deserialize, Serialize};

/// One cell as the workbook holds it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum SheetCell {
    Empty,
    /// Text, as typed (a formula's cached text result too).
    Text(String),
    /// A number, as the reader shows it (`123`, `1.5`): not text, so refused where text is
    /// required (a login ID `000123` typed into a number cell has already lost its zeros).
    Number(String),
    /// TRUE or FALSE.
    Bool(bool),
    /// A date or time, as the reader shows it.
    Date(String),
    /// A formula's cached error value (`#N/A`, `#REF!`...).
    Error(String),
}

impl SheetCell {
    /// The text a header cell or a message shows for the cell.
    pub fn shown(&self) -> String {
        match self {
            SheetCell::Empty => String::new(),
            SheetCell::Text(s)
            | SheetCell::Number(s)
            | SheetCell::Date(s)
            | SheetCell::Error(s) => s.clone(),
            SheetCell::Bool(true) => "TRUE".into(),
            SheetCell::Bool(false) => "FALSE".into(),
        }
    }

    pub(super) fn is_blank(&self) -> bool {
        match self {
            SheetCell::Empty => true,
            SheetCell::Text(s) => s.trim().is_empty(),
            _ => false,
        }
    }
}

/// One row of a sheet: its row number as Excel shows it (1 is the first row) and its cells from
/// column A (index 0). Rows that are not given are blank.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SheetRow {
    pub row: u32,
    pub cells: Vec<SheetCell>,
}

/// The sheet that was read, and every sheet of the workbook (for the choice in the preview).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SheetChoice {
    pub name: String,
    pub all: Vec<String>,
}

/// A login ID or e-mail address typed in full-width (or other compatibility) characters and
/// read folded to half-width (Unicode NFKC): shown in the preview beside the original.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FoldedValue {
    pub row: u32,
    /// 1-based column.
    pub column: u32,
    pub column_name: String,
    /// As typed (trimmed).
    pub original: String,
    /// As recorded.
    pub folded: String,
}

impl FoldedValue {
    /// The cell as Excel names it, e.g. `B7`.
    pub fn cell(&self) -> String {
        cell_name(self.column, self.row)
    }
}

/// A 1-based column number as Excel's letters: 1 → `A`, 27 → `AA`; 0 gives an empty string.
pub fn column_letters(column: u32) -> String {
    let mut n = column;
    let mut letters = Vec::new();
    while n > 0 {
        let rem = (n - 1) % 26;
        letters.push(char::from(b'A' + rem as u8));
        n = (n - 1) / 26;
    }
    letters.iter().rev().collect()
}

/// A cell as Excel names it: column letters and row number, e.g. `B7`.
pub fn cell_name(column: u32, row: u32) -> String {
    format!("{}{row}", column_letters(column))
}

/// A merged range of cells, 1-based and inclusive, as Excel shows it (`A1:B1`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CellRange {
    pub first_row: u32,
    pub first_column: u32,
    pub last_row: u32,
    pub last_column: u32,
}

impl CellRange {
    pub fn name(&self) -> String {
        format!(
            "{}:{}",
            cell_name(self.first_column, self.first_row),
            cell_name(self.last_column, self.last_row)
        )
    }

    pub(super) fn covers(&self, row: u32, column: u32) -> bool {
        (self.first_row..=self.last_row).contains(&row)
            && (self.first_column..=self.last_column).contains(&column)
    }

    pub(super) fn is_single(&self) -> bool {
        self.first_row == self.last_row && self.first_column == self.last_column
    }
}
