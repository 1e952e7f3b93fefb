//! Reading a users file: bytes to a [`ParsedFile`] of good rows and row problems.
//!
//! The file format, as accepted:
//! - at most [`MAX_FILE_BYTES`] bytes and [`MAX_DATA_ROWS`] data rows;
//! - UTF-8 with or without BOM, or Shift_JIS (Windows code page 932, as Excel's
//!   "CSV (comma delimited)" writes it on Japanese Windows);
//! - comma- or tab-separated (tab when the header line has tabs and no commas), RFC 4180
//!   quoting (`"` around a field, `""` for a quote inside, line breaks inside quotes);
//! - a header row naming the columns `login_id`, `name`, `email`, `role` in any order, in
//!   English or Japanese; other columns are ignored (an export adds certificate columns, and an
//!   export can be imported again as it is);
//! - blank rows are skipped, values are trimmed.
//!
//! Why a small reader here instead of the `csv` crate named in the stack: `csv` (csv-core)
//! drops empty lines before they become records and reads an unclosed quote to the end of the
//! file without saying so. Problems must be reported at the row Excel shows (empty rows count
//! there, a quoted line break does not start a row) and an unclosed quote must be an error
//! (E-CSV-015), so `split_records` keeps one record per Excel row; it is ~50 lines and the
//! proptest in `domain/tests/userfile_fuzz.rs` runs random input through it in every test run.

use super::cells::{cell_name, CellRange, FoldedValue, SheetCell, SheetChoice, SheetRow};
use super::formula::unescape_cell;
use super::{
    CODE_DATE_CELL, CODE_DUPLICATE_LOGIN_ID, CODE_ERROR_VALUE, CODE_NOT_TEXT, CODE_RAGGED_ROW,
    CODE_REQUIRED_EMPTY, CODE_SECOND_HEADER, CODE_UNCLOSED_QUOTE, CODE_UNKNOWN_ROLE,
};
use crate::ids::{Email, LoginId, PersonName};
use crate::lang::{Lang, Message};
use crate::role::Role;
use encoding_rs::SHIFT_JIS;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use unicode_normalization::UnicodeNormalization;

/// Largest file accepted: 1 MiB.
pub const MAX_FILE_BYTES: usize = 1024 * 1024;
/// Most data rows (blank rows not counted) in one file.
pub const MAX_DATA_ROWS: usize = 1000;

/// The text encoding a file was read in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Encoding {
    /// UTF-8 without a byte order mark (also plain ASCII).
    Utf8,
    /// UTF-8 starting with the byte order mark EF BB BF (Excel's "CSV UTF-8").
    Utf8Bom,
    /// Shift_JIS as Windows writes it (code page 932, with the NEC and IBM extensions).
    ShiftJis,
    /// UTF-16 little endian with its byte order mark (Excel's 「Unicode テキスト」).
    Utf16Le,
    /// UTF-16 big endian with its byte order mark.
    Utf16Be,
    /// An Excel workbook (.xlsx).
    Xlsx,
    /// An Excel macro-enabled workbook (.xlsm); the macros are never run.
    Xlsm,
    /// An Excel 97–2003 workbook (.xls).
    Xls,
    /// An OpenDocument spreadsheet (.ods).
    Ods,
}

impl Encoding {
    /// The name shown to people; the same in both languages.
    pub fn label(self) -> &'static str {
        match self {
            Encoding::Utf8 => "UTF-8",
            Encoding::Utf8Bom => "UTF-8 (BOM)",
            Encoding::ShiftJis => "Shift_JIS (CP932)",
            Encoding::Utf16Le => "UTF-16 LE (BOM)",
            Encoding::Utf16Be => "UTF-16 BE (BOM)",
            Encoding::Xlsx => "Excel (.xlsx)",
            Encoding::Xlsm => "Excel (.xlsm)",
            Encoding::Xls => "Excel 97-2003 (.xls)",
            Encoding::Ods => "OpenDocument (.ods)",
        }
    }

    /// A workbook rather than a text file.
    pub fn is_workbook(self) -> bool {
        matches!(
            self,
            Encoding::Xlsx | Encoding::Xlsm | Encoding::Xls | Encoding::Ods
        )
    }
}

/// The field separator a file was read with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Separator {
    Comma,
    Tab,
    /// A workbook: cells, no separator.
    Cells,
}

impl Separator {
    pub fn as_char(self) -> char {
        match self {
            Separator::Comma | Separator::Cells => ',',
            Separator::Tab => '\t',
        }
    }

    pub fn label_ja(self) -> &'static str {
        match self {
            Separator::Comma => "カンマ区切り",
            Separator::Tab => "タブ区切り",
            Separator::Cells => "ブックのセル",
        }
    }

    pub fn label_en(self) -> &'static str {
        match self {
            Separator::Comma => "comma-separated",
            Separator::Tab => "tab-separated",
            Separator::Cells => "workbook cells",
        }
    }

    pub fn label(self, lang: Lang) -> &'static str {
        match lang {
            Lang::Ja => self.label_ja(),
            Lang::En => self.label_en(),
        }
    }
}

/// A whole-file rejection: nothing of the file is used.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum FileError {
    /// Larger than [`MAX_FILE_BYTES`].
    #[error("E-CSV-001 the file has {bytes} bytes; at most {max} are accepted")]
    TooLarge { bytes: usize, max: usize },
    /// Not text: NUL bytes, many control characters, or UTF-16.
    #[error("E-CSV-002 the file is not a CSV text file")]
    Binary,
    /// Neither valid UTF-8 nor valid Shift_JIS.
    #[error("E-CSV-003 the file is neither UTF-8 nor Shift_JIS")]
    UnknownEncoding,
    /// No header line: the file is empty or has only blank lines.
    #[error("E-CSV-004 the file is empty")]
    Empty,
    /// The header lacks required columns (`login_id`, `name`, `email`, `role`).
    #[error("E-CSV-005 the header lacks the column(s) {}", missing.join(", "))]
    MissingColumns { missing: Vec<String> },
    /// The header names one of the columns twice; `column` is the second one's position.
    #[error("E-CSV-006 column {column} ({name}) repeats an earlier column")]
    DuplicateColumn { column: u32, name: String },
    /// More than [`MAX_DATA_ROWS`] data rows.
    #[error("E-CSV-007 the file has {rows} data rows; at most {max} are accepted")]
    TooManyRows { rows: usize, max: usize },
    /// Named as a workbook (or starting like one) but not a workbook that can be read.
    #[error("E-CSV-008 {name} is not a readable workbook")]
    NotAWorkbook { name: String },
    /// A password-protected (encrypted) workbook.
    #[error("E-CSV-009 the workbook is protected by a password")]
    Encrypted,
    /// A workbook that would expand beyond the limits (ZIP bomb, huge sheet): `what` says
    /// which limit, in English.
    #[error("E-CSV-016 the workbook expands beyond the limit ({what})")]
    WorkbookTooLarge { what: String },
    /// The sheet asked for is not in the workbook.
    #[error("E-CSV-017 the workbook has no sheet {sheet:?}")]
    SheetNotFound { sheet: String, sheets: Vec<String> },
    /// The sheet read has no cell with a value.
    #[error("E-CSV-018 sheet {sheet:?} is empty")]
    EmptySheet { sheet: String, others: Vec<String> },
    /// The file's name says one format and its content is another.
    #[error("E-CSV-019 the file is named {name} but holds {actual}")]
    ExtensionMismatch { name: String, actual: String },
    /// A header cell of one of the user columns is merged with other cells (`range`: `A1:B1`).
    #[error("E-CSV-026 header cells {range} of sheet {sheet:?} are merged")]
    MergedHeader { sheet: String, range: String },
}

/// The accepted header names, for messages.
const ACCEPTED_HEADERS_JA: &str = "ログインID / login_id / loginid、氏名 / 名前 / name、\
     メールアドレス / メール / email / e-mail、権限 / role";
const ACCEPTED_HEADERS_EN: &str = "login_id / loginid / ログインID; name / 氏名 / 名前; \
     email / e-mail / メールアドレス / メール; role / 権限";

impl FileError {
    /// The stable code shown to people and written to the log.
    pub fn code(&self) -> &'static str {
        match self {
            FileError::TooLarge { .. } => "E-CSV-001",
            FileError::Binary => "E-CSV-002",
            FileError::UnknownEncoding => "E-CSV-003",
            FileError::Empty => "E-CSV-004",
            FileError::MissingColumns { .. } => "E-CSV-005",
            FileError::DuplicateColumn { .. } => "E-CSV-006",
            FileError::TooManyRows { .. } => "E-CSV-007",
            FileError::NotAWorkbook { .. } => "E-CSV-008",
            FileError::Encrypted => "E-CSV-009",
            FileError::WorkbookTooLarge { .. } => "E-CSV-016",
            FileError::SheetNotFound { .. } => "E-CSV-017",
            FileError::EmptySheet { .. } => "E-CSV-018",
            FileError::ExtensionMismatch { .. } => "E-CSV-019",
            FileError::MergedHeader { .. } => "E-CSV-026",
        }
    }

    /// What is wrong and how to fix it, in both languages.
    pub fn message(&self) -> Message {
        match self {
            FileError::TooLarge { bytes, max } => Message::new(
                format!(
                    "ファイルが大きすぎます({bytes}バイト)。読み込めるのは{max}バイトまでです。\
                     利用者の一覧(ログインID・氏名・メールアドレス・権限)だけを保存したファイルを選んでください。"
                ),
                format!(
                    "The file is too large ({bytes} bytes; at most {max}). Choose a file that \
                     holds only the user list (login ID, name, e-mail, role)."
                ),
            ),
            FileError::Binary => Message::new(
                "テキストファイルでもExcelブックでもありません。\
                 Excelで「名前を付けて保存」から「Excel ブック」(.xlsx)か「CSV UTF-8 (コンマ区切り)」を選んで保存し直してください。",
                "This is neither a text file nor a workbook. In Excel, use Save As with \
                 \"Excel Workbook\" (.xlsx) or \"CSV UTF-8 (Comma delimited)\" and choose that file.",
            ),
            FileError::UnknownEncoding => Message::new(
                "文字コードを判別できません(UTF-8でもShift_JISでもありません)。\
                 Excelで「CSV UTF-8 (コンマ区切り)」または「CSV (コンマ区切り)」として保存し直してください。",
                "The text encoding is neither UTF-8 nor Shift_JIS. In Excel, save the file as \
                 \"CSV UTF-8 (Comma delimited)\" or \"CSV (Comma delimited)\".",
            ),
            FileError::Empty => Message::new(
                "ファイルが空です(見出し行がありません)。1行目に「ログインID,氏名,メールアドレス,権限」の見出しを書き、\
                 2行目から利用者を1人1行で書いてください。テンプレートを使うこともできます。",
                "The file is empty (no header line). Write the header \
                 \"login_id,name,email,role\" on the first line and one user per line below it, \
                 or start from the template.",
            ),
            FileError::MissingColumns { missing } => {
                let ja: Vec<&str> = missing
                    .iter()
                    .map(|m| match Column::from_key(m) {
                        Some(c) => c.label_ja(),
                        None => m.as_str(),
                    })
                    .collect();
                Message::new(
                    format!(
                        "見出し行に必要な列がありません: {}。1行目に見出しを入れてください。使える見出し: {ACCEPTED_HEADERS_JA}。",
                        ja.join("、")
                    ),
                    format!(
                        "The header line lacks the column(s) {}. Put the column names on the \
                         first line. Accepted names: {ACCEPTED_HEADERS_EN}.",
                        missing.join(", ")
                    ),
                )
            }
            FileError::DuplicateColumn { column, name } => Message::new(
                format!(
                    "見出し「{name}」({column}列目)は、前の列と同じ項目です。同じ項目の列は1つだけにしてください。"
                ),
                format!(
                    "Column {column} ('{name}') is the same item as an earlier column. Keep only \
                     one column for each item."
                ),
            ),
            FileError::TooManyRows { rows, max } => Message::new(
                format!(
                    "データ行が{rows}行あります。1つのファイルで読み込めるのは{max}行までです。ファイルを分けてください。"
                ),
                format!("The file has {rows} data rows; at most {max} fit in one file. Split the file."),
            ),
            FileError::NotAWorkbook { name } => Message::new(
                format!(
                    "「{name}」はExcelブックとして読めません(壊れているか、ブックではありません)。\
                     Excelで開けるか確かめ、「名前を付けて保存」で「Excel ブック」(.xlsx)として保存し直してください。"
                ),
                format!(
                    "'{name}' cannot be read as a workbook (it is damaged or not a workbook). Check \
                     that Excel opens it, then use Save As with \"Excel Workbook\" (.xlsx)."
                ),
            ),
            FileError::Encrypted => Message::new(
                "ブックがパスワードで保護(暗号化)されているため読めません。Excelで開き、\
                 「ファイル」→「情報」→「ブックの保護」→「パスワードを使用して暗号化」でパスワードを消して保存し直してください。",
                "The workbook is protected by a password (encrypted), so it cannot be read. Open \
                 it in Excel, remove the password (File > Info > Protect Workbook > Encrypt with \
                 Password, clear it) and save it again.",
            ),
            FileError::WorkbookTooLarge { what } => Message::new(
                format!(
                    "ブックを展開すると上限を超えます({what})。利用者の一覧(ログインID・氏名・メールアドレス・権限)だけを\
                     新しいブックの1枚目のシートに貼り付けて保存し直してください。"
                ),
                format!(
                    "The workbook expands beyond the limit ({what}). Paste only the user list \
                     (login ID, name, e-mail, role) into the first sheet of a new workbook and \
                     save that."
                ),
            ),
            FileError::SheetNotFound { sheet, sheets } => Message::new(
                format!(
                    "ブックにシート「{sheet}」がありません。次のシートから選んでください: {}。",
                    sheets.join("、")
                ),
                format!(
                    "The workbook has no sheet '{sheet}'. Choose one of: {}.",
                    sheets.join(", ")
                ),
            ),
            FileError::EmptySheet { sheet, others } => {
                let (ja, en) = if others.is_empty() {
                    (
                        "1行目に見出し「ログインID,氏名,メールアドレス,権限」、2行目から利用者を書いてください。".to_string(),
                        "Write the header \"login_id, name, email, role\" on row 1 and one user per row below it.".to_string(),
                    )
                } else {
                    (
                        format!("プレビューで利用者の一覧があるシートを選んでください({})。", others.join("、")),
                        format!("Choose the sheet that holds the user list in the preview ({}).", others.join(", ")),
                    )
                };
                Message::new(
                    format!("シート「{sheet}」は空です。{ja}"),
                    format!("Sheet '{sheet}' is empty. {en}"),
                )
            }
            FileError::ExtensionMismatch { name, actual } => Message::new(
                format!(
                    "ファイル名「{name}」の拡張子と中身({actual})が合いません。\
                     中身に合う拡張子に直すか、正しいファイルを選んでください。"
                ),
                format!(
                    "The extension of '{name}' does not match its content ({actual}). Rename it \
                     to the extension of its content or choose the right file."
                ),
            ),
            FileError::MergedHeader { sheet, range } => Message::new(
                format!(
                    "シート「{sheet}」の見出しのセル {range} が結合されています。\
                     結合を解除し、見出しを1列に1つずつ書いてください。"
                ),
                format!(
                    "Header cells {range} of sheet '{sheet}' are merged. Unmerge them and write \
                     one column name per column."
                ),
            ),
        }
    }
}

/// One problem in one row. `row` is the record number as Excel shows it: the header is row 1,
/// the first data row is row 2 (a quoted field with line breaks stays one row, and blank rows
/// count as rows). `column` is the 1-based position in the file, `column_name` the header text
/// as written in the file; both `None` when the problem is about the whole row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RowProblem {
    pub row: u32,
    pub column: Option<u32>,
    pub column_name: Option<String>,
    pub code: String,
    pub message: Message,
}

impl RowProblem {
    pub(super) fn whole_row(row: u32, code: &str, message: Message) -> RowProblem {
        RowProblem {
            row,
            column: None,
            column_name: None,
            code: code.to_string(),
            message,
        }
    }

    /// The cell as Excel names it (`B7`), when the problem is about one field.
    pub fn cell(&self) -> Option<String> {
        self.column.map(|c| cell_name(c, self.row))
    }

    pub(super) fn at(row: u32, column: &ColumnRef, code: &str, message: Message) -> RowProblem {
        RowProblem {
            row,
            column: Some(column.column),
            column_name: Some(column.name.clone()),
            code: code.to_string(),
            message,
        }
    }
}

/// Where one of the four user columns is in the file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ColumnRef {
    /// 1-based position.
    pub column: u32,
    /// The header text as written in the file (trimmed).
    pub name: String,
}

/// Where the four user columns are in the file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeaderColumns {
    pub login_id: ColumnRef,
    pub name: ColumnRef,
    pub email: ColumnRef,
    pub role: ColumnRef,
}

/// A data row without problems, as the parsed values: `login_id` as in the file (trimmed),
/// `name` normalised to NFC as [`PersonName`] keeps it, `email` as [`Email`] keeps it, and the
/// role (a row without a known role has a problem instead).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileRow {
    pub row: u32,
    pub login_id: LoginId,
    pub name: PersonName,
    pub email: Email,
    pub role: Role,
}

/// A users file that was read: its good rows and the problems of its bad rows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParsedFile {
    pub encoding: Encoding,
    pub separator: Separator,
    /// Data rows, bad ones included, blank ones not.
    pub records: u32,
    /// The row number of the file's last row (blank rows included), as Excel shows it; every
    /// problem's row is at most this.
    pub last_row: u32,
    /// Where the user columns are.
    pub columns: HeaderColumns,
    /// Header names of the columns that are not read (as written in the file).
    pub ignored_columns: Vec<String>,
    /// The rows without problems, in file order.
    pub rows: Vec<FileRow>,
    /// Every problem of every bad row, sorted by row, then column (whole-row problems first).
    pub problems: Vec<RowProblem>,
    /// For a workbook: the sheet read and every sheet's name.
    #[serde(default)]
    pub sheet: Option<SheetChoice>,
    /// Login IDs and e-mail addresses read folded to half-width (NFKC), in row order.
    #[serde(default)]
    pub folded: Vec<FoldedValue>,
}

/// The four columns a users file must have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Column {
    LoginId,
    Name,
    Email,
    Role,
}

impl Column {
    pub(super) const ALL: [Column; 4] =
        [Column::LoginId, Column::Name, Column::Email, Column::Role];

    /// The English name used in exports, templates and [`FileError::MissingColumns`].
    pub(super) fn key(self) -> &'static str {
        match self {
            Column::LoginId => "login_id",
            Column::Name => "name",
            Column::Email => "email",
            Column::Role => "role",
        }
    }

    fn from_key(key: &str) -> Option<Column> {
        Column::ALL.into_iter().find(|c| c.key() == key)
    }

    fn label_ja(self) -> &'static str {
        match self {
            Column::LoginId => "ログインID",
            Column::Name => "氏名",
            Column::Email => "メールアドレス",
            Column::Role => "権限",
        }
    }

    /// Recognises a header cell: NFKC (so full-width and half-width forms count), case
    /// ignored, spaces, `_` and `-` ignored.
    fn from_header(text: &str) -> Option<Column> {
        let key: String = text
            .trim_matches(|c: char| c.is_whitespace() || c == '\u{feff}')
            .nfkc()
            .flat_map(char::to_lowercase)
            .filter(|c| !c.is_whitespace() && *c != '_' && *c != '-')
            .collect();
        match key.as_str() {
            "loginid" | "ログインid" => Some(Column::LoginId),
            "name" | "氏名" | "名前" => Some(Column::Name),
            "email" | "メールアドレス" | "メール" => Some(Column::Email),
            "role" | "権限" => Some(Column::Role),
            _ => None,
        }
    }
}

/// Reads a role as people write it: `master`, `admin`, `general` (case ignored), or
/// マスター(ユーザ), 管理者(ユーザ), 一般(ユーザ) (a trailing ー is allowed, half-width kana too).
pub fn parse_role(text: &str) -> Option<Role> {
    let s: String = text.trim().nfkc().collect();
    let s = s.to_lowercase();
    match s.as_str() {
        "master" | "マスター" | "マスターユーザ" | "マスターユーザー" => {
            Some(Role::Master)
        }
        "admin" | "管理者" | "管理者ユーザ" | "管理者ユーザー" => Some(Role::Admin),
        "general" | "一般" | "一般ユーザ" | "一般ユーザー" => Some(Role::General),
        _ => None,
    }
}

/// Reads a users text file (CSV or tab-separated). See the module documentation for the format.
pub fn read_users_file(bytes: &[u8]) -> Result<ParsedFile, FileError> {
    if bytes.len() > MAX_FILE_BYTES {
        return Err(FileError::TooLarge {
            bytes: bytes.len(),
            max: MAX_FILE_BYTES,
        });
    }
    let (encoding, text) = decode(bytes)?;
    let separator = detect_separator(&text).ok_or(FileError::Empty)?;
    let records = split_records(&text, separator.as_char());
    let last_row = to_u32(records.len());
    let lines = records
        .into_iter()
        .enumerate()
        .map(|(i, r)| Line {
            row: to_u32(i + 1),
            cells: r.fields.into_iter().map(SheetCell::Text).collect(),
            unclosed_quote: r.unclosed_quote,
        })
        .collect();
    read_lines(encoding, separator, None, lines, last_row, &[])
}

/// Reads one sheet of a workbook that the caller decoded into cells (`format` is the
/// workbook's kind, `rows` at the row numbers Excel shows). Cells are taken as text as typed;
/// a number, date, TRUE/FALSE or error value where a user field is required is that cell's
/// problem (`E-CSV-022`..`024`), named by its cell (`B7`) and sheet.
///
/// `merged` are the sheet's merged ranges: one that joins a header cell of a user column with
/// other cells is refused (`E-CSV-026`).
pub fn read_users_sheet(
    format: Encoding,
    sheet: SheetChoice,
    mut rows: Vec<SheetRow>,
    merged: &[CellRange],
) -> Result<ParsedFile, FileError> {
    rows.sort_by_key(|r| r.row);
    if rows.iter().all(|r| r.cells.iter().all(SheetCell::is_blank)) {
        return Err(FileError::EmptySheet {
            others: sheet
                .all
                .iter()
                .filter(|s| **s != sheet.name)
                .cloned()
                .collect(),
            sheet: sheet.name,
        });
    }
    let last_row = rows.last().map_or(0, |r| r.row);
    let lines = rows
        .into_iter()
        .map(|r| Line {
            row: r.row,
            cells: r.cells,
            unclosed_quote: false,
        })
        .collect();
    read_lines(
        format,
        Separator::Cells,
        Some(sheet),
        lines,
        last_row,
        merged,
    )
}

/// One row of the file or sheet, as Excel numbers it.
struct Line {
    row: u32,
    cells: Vec<SheetCell>,
    /// The row ended at the end of the file inside a quoted field (text files only).
    unclosed_quote: bool,
}

impl Line {
    fn is_blank(&self) -> bool {
        self.cells.iter().all(SheetCell::is_blank)
    }

    fn cell(&self, column: &ColumnRef) -> &SheetCell {
        self.cells
            .get(column.column as usize - 1)
            .unwrap_or(&SheetCell::Empty)
    }

    /// How many cells name one of the user columns.
    fn header_names(&self) -> usize {
        self.cells
            .iter()
            .filter(|c| Column::from_header(&c.shown()).is_some())
            .count()
    }
}

/// The header row: the first non-blank row, unless it names fewer than two of the user columns
/// and one of the next nine non-blank rows names two or more (a title row such as 「利用者一覧」
/// above the header, as workbooks often have).
fn find_header(lines: &[Line]) -> Option<usize> {
    let first = lines.iter().position(|l| !l.is_blank())?;
    if lines[first].header_names() >= 2 {
        return Some(first);
    }
    let later = lines
        .iter()
        .enumerate()
        .skip(first + 1)
        .filter(|(_, l)| !l.is_blank())
        .take(9)
        .find(|(_, l)| l.header_names() >= 2)
        .map(|(i, _)| i);
    Some(later.unwrap_or(first))
}

fn read_lines(
    encoding: Encoding,
    separator: Separator,
    sheet: Option<SheetChoice>,
    lines: Vec<Line>,
    last_row: u32,
    merged: &[CellRange],
) -> Result<ParsedFile, FileError> {
    let text_file = sheet.is_none();
    let header_index = find_header(&lines).ok_or(FileError::Empty)?;
    let header = &lines[header_index];
    let header_texts: Vec<String> = header.cells.iter().map(SheetCell::shown).collect();
    let (columns, ignored_columns) = read_header(&header_texts)?;
    let user_columns = [
        &columns.login_id,
        &columns.name,
        &columns.email,
        &columns.role,
    ];
    if let Some(range) = merged
        .iter()
        .find(|m| !m.is_single() && user_columns.iter().any(|c| m.covers(header.row, c.column)))
    {
        return Err(FileError::MergedHeader {
            sheet: sheet.as_ref().map(|s| s.name.clone()).unwrap_or_default(),
            range: range.name(),
        });
    }

    let data: Vec<&Line> = lines
        .iter()
        .skip(header_index + 1)
        .filter(|l| !l.is_blank())
        .collect();
    if data.len() > MAX_DATA_ROWS {
        return Err(FileError::TooManyRows {
            rows: data.len(),
            max: MAX_DATA_ROWS,
        });
    }

    let width = header.cells.len();
    let sheet_name = sheet.as_ref().map(|s| s.name.clone()).unwrap_or_default();
    let mut rows = Vec::new();
    let mut problems = Vec::new();
    let mut folded = Vec::new();
    let mut seen: HashMap<String, u32> = HashMap::new();
    for line in &data {
        let row = line.row;
        if line.unclosed_quote {
            problems.push(RowProblem::whole_row(
                row,
                CODE_UNCLOSED_QUOTE,
                Message::new(
                    "この行で始まる「\"」が閉じられていないため、ファイルの終わりまでが1つの値として読まれました。\
                     値を囲む「\"」を閉じるか、不要な「\"」を消してください。",
                    "A double quote opened in this row is never closed, so the rest of the file \
                     was read as one value. Close the quote or remove it.",
                ),
            ));
            continue;
        }
        if text_file && line.cells.len() != width {
            let found = line.cells.len();
            problems.push(RowProblem::whole_row(
                row,
                CODE_RAGGED_ROW,
                Message::new(
                    format!(
                        "この行の値の数は{found}個で、見出し行の{width}個と合いません。\
                         区切り文字を含む値は「\"」で囲み、閉じていない「\"」がないか確かめてください。"
                    ),
                    format!(
                        "This row has {found} fields but the header has {width}. Put values \
                         that contain the separator in double quotes, and check for an unclosed \
                         double quote."
                    ),
                ),
            ));
            continue;
        }
        let four = [
            (&columns.login_id, Column::LoginId),
            (&columns.name, Column::Name),
            (&columns.email, Column::Email),
            (&columns.role, Column::Role),
        ];
        let header_like = four
            .iter()
            .filter(|(c, col)| Column::from_header(&line.cell(c).shown()) == Some(*col))
            .count();
        if header_like >= 2 {
            problems.push(RowProblem::whole_row(
                row,
                CODE_SECOND_HEADER,
                Message::new(
                    format!(
                        "{row}行目は見出し行のように見えます(見出し行は{}行目です)。見出し行は1つだけにし、この行を消してください。",
                        header.row
                    ),
                    format!(
                        "Row {row} looks like a second header row (the header is row {}). Keep \
                         one header row and delete this one.",
                        header.row
                    ),
                ),
            ));
            continue;
        }
        let before = problems.len();
        let mut cell = |c: &ColumnRef| -> Option<String> {
            match text_of(line.cell(c), text_file, row, c, &sheet_name) {
                Ok(v) => Some(v),
                Err(p) => {
                    problems.push(p);
                    None
                }
            }
        };
        let login_raw = cell(&columns.login_id);
        let name_raw = cell(&columns.name);
        let email_raw = cell(&columns.email);
        let role_raw = cell(&columns.role);
        let mut fold = |raw: String, c: &ColumnRef| -> String {
            let original = raw.trim();
            let nfkc: String = original.nfkc().collect();
            let nfkc = nfkc.trim().to_string();
            if nfkc != original {
                folded.push(FoldedValue {
                    row,
                    column: c.column,
                    column_name: c.name.clone(),
                    original: original.to_string(),
                    folded: nfkc.clone(),
                });
            }
            nfkc
        };
        let login_raw = login_raw.map(|v| fold(v, &columns.login_id));
        let email_raw = email_raw.map(|v| fold(v, &columns.email));

        let login_id = login_raw.and_then(|login_raw| {
            match check(row, &columns.login_id, &login_raw, LoginId::parse) {
                Ok(id) => {
                    match seen.get(&id.key()) {
                        Some(earlier) => problems.push(RowProblem::at(
                            row,
                            &columns.login_id,
                            CODE_DUPLICATE_LOGIN_ID,
                            Message::new(
                                format!(
                                    "ログインID「{id}」は{earlier}行目にもあります(大文字・小文字は区別しません)。\
                                     どちらかの行を消すか、別のIDにしてください。"
                                ),
                                format!(
                                    "Login ID '{id}' is also on row {earlier} (case is ignored). \
                                     Delete one of the rows or choose another ID."
                                ),
                            ),
                        )),
                        None => {
                            seen.insert(id.key(), row);
                        }
                    }
                    Some(id)
                }
                Err(p) => {
                    problems.push(p);
                    None
                }
            }
        });
        let name = name_raw.and_then(|v| {
            check(row, &columns.name, &v, PersonName::parse)
                .map_err(|p| problems.push(p))
                .ok()
        });
        let email = email_raw.and_then(|v| {
            check(row, &columns.email, &v, Email::parse)
                .map_err(|p| problems.push(p))
                .ok()
        });
        let role = role_raw.and_then(|v| {
            check(row, &columns.role, &v, |s| {
                parse_role(s).ok_or_else(|| {
                    let shown = shorten(s.trim());
                    RowProblem::at(
                        row,
                        &columns.role,
                        CODE_UNKNOWN_ROLE,
                        Message::new(
                            format!(
                                "権限「{shown}」は使えません。admin / general(管理者 / 一般)、\
                                 またはマスターユーザの行では master(マスター)と書いてください。"
                            ),
                            format!(
                                "Role '{shown}' is not known. Write admin or general (管理者 or 一般), \
                                 or master (マスター) on the master's row."
                            ),
                        ),
                    )
                })
            })
            .map_err(|p| problems.push(p))
            .ok()
        });
        if problems.len() > before {
            continue;
        }
        if let (Some(login_id), Some(name), Some(email), Some(role)) = (login_id, name, email, role)
        {
            rows.push(FileRow {
                row,
                login_id,
                name,
                email,
                role,
            });
        }
    }
    sort_problems(&mut problems);
    Ok(ParsedFile {
        encoding,
        separator,
        records: to_u32(data.len()),
        last_row,
        columns,
        ignored_columns,
        rows,
        problems,
        sheet,
        folded,
    })
}

/// A user field's cell as text: a text file's cell trimmed and without the export's formula
/// `'`; a workbook's text cell trimmed; any other workbook value is the cell's problem.
fn text_of(
    cell: &SheetCell,
    text_file: bool,
    row: u32,
    column: &ColumnRef,
    sheet: &str,
) -> Result<String, RowProblem> {
    let at = cell_name(column.column, row);
    let problem = |code: &str, ja: String, en: String| {
        RowProblem::at(row, column, code, Message::new(ja, en))
    };
    match cell {
        SheetCell::Empty => Ok(String::new()),
        SheetCell::Text(s) if text_file => Ok(unescape_cell(s)),
        SheetCell::Text(s) => Ok(s.trim().to_string()),
        SheetCell::Number(s) => Err(problem(
            CODE_NOT_TEXT,
            format!(
                "シート「{sheet}」のセル {at} は数値「{s}」で、文字列ではありません(数値にすると 000123 の先頭の0などが消えます)。\
                 列の表示形式を「文字列」にしてから値を入力し直してください。"
            ),
            format!(
                "Cell {at} of sheet '{sheet}' holds the number {s}, not text (as a number, \
                 000123 loses its leading zeros). Format the column as Text and type the value \
                 again."
            ),
        )),
        SheetCell::Bool(b) => Err(problem(
            CODE_NOT_TEXT,
            format!(
                "シート「{sheet}」のセル {at} は論理値「{}」で、文字列ではありません。列の表示形式を「文字列」にしてから値を入力し直してください。",
                cell.shown()
            ),
            format!(
                "Cell {at} of sheet '{sheet}' holds the value {}, not text. Format the column as \
                 Text and type the value again.",
                if *b { "TRUE" } else { "FALSE" }
            ),
        )),
        SheetCell::Date(s) => Err(problem(
            CODE_DATE_CELL,
            format!(
                "シート「{sheet}」のセル {at} は日付・時刻「{s}」で、文字列ではありません。列の表示形式を「文字列」にしてから値を入力し直してください。"
            ),
            format!(
                "Cell {at} of sheet '{sheet}' holds the date or time {s}, not text. Format the \
                 column as Text and type the value again."
            ),
        )),
        SheetCell::Error(s) => Err(problem(
            CODE_ERROR_VALUE,
            format!(
                "シート「{sheet}」のセル {at} は数式のエラー値「{s}」です。数式を直すか、値を文字列で入力してください。"
            ),
            format!(
                "Cell {at} of sheet '{sheet}' holds the formula error {s}. Correct the formula \
                 or type the value as text."
            ),
        )),
    }
}

/// A problem-free value, or the row's problem for that field: empty (`E-CSV-011`) or broken
/// (the [`crate::ValidationError`]'s code and message, or the one `parse` builds).
fn check<T, E: IntoProblem>(
    row: u32,
    column: &ColumnRef,
    value: &str,
    parse: impl FnOnce(&str) -> Result<T, E>,
) -> Result<T, RowProblem> {
    if value.trim().is_empty() {
        let name = &column.name;
        return Err(RowProblem::at(
            row,
            column,
            CODE_REQUIRED_EMPTY,
            Message::new(
                format!(
                    "「{name}」が空です。ログインID・氏名・メールアドレス・権限はすべて必須です。"
                ),
                format!("'{name}' is empty. Login ID, name, e-mail and role are all required."),
            ),
        ));
    }
    parse(value).map_err(|e| e.into_problem(row, column))
}

trait IntoProblem {
    fn into_problem(self, row: u32, column: &ColumnRef) -> RowProblem;
}

impl IntoProblem for crate::ValidationError {
    fn into_problem(self, row: u32, column: &ColumnRef) -> RowProblem {
        RowProblem::at(row, column, self.code(), self.message())
    }
}

impl IntoProblem for RowProblem {
    fn into_problem(self, _row: u32, _column: &ColumnRef) -> RowProblem {
        self
    }
}

/// A value quoted in a message: at most 40 characters.
fn shorten(s: &str) -> String {
    if s.chars().count() <= 40 {
        s.to_string()
    } else {
        let mut short: String = s.chars().take(39).collect();
        short.push('…');
        short
    }
}

pub(super) fn sort_problems(problems: &mut [RowProblem]) {
    problems.sort_by_key(|p| (p.row, p.column.unwrap_or(0)));
}

pub(super) fn to_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// Finds the encoding and decodes; refuses binary files.
fn decode(bytes: &[u8]) -> Result<(Encoding, String), FileError> {
    let utf16 = match bytes.strip_prefix(&[0xFF, 0xFE]) {
        Some(rest) => Some((Encoding::Utf16Le, rest, encoding_rs::UTF_16LE)),
        None => bytes
            .strip_prefix(&[0xFE, 0xFF])
            .map(|rest| (Encoding::Utf16Be, rest, encoding_rs::UTF_16BE)),
    };
    if utf16.is_none() && bytes.contains(&0) {
        return Err(FileError::Binary);
    }
    let (encoding, text) = if let Some((encoding, rest, utf16)) = utf16 {
        // An odd length or a lone surrogate is not UTF-16 text.
        if rest.len() % 2 != 0 {
            return Err(FileError::UnknownEncoding);
        }
        let text = utf16
            .decode_without_bom_handling_and_without_replacement(rest)
            .ok_or(FileError::UnknownEncoding)?;
        if text.contains('\0') {
            return Err(FileError::Binary);
        }
        (encoding, text.into_owned())
    } else if let Some(rest) = bytes.strip_prefix(&[0xEF, 0xBB, 0xBF]) {
        let text = std::str::from_utf8(rest).map_err(|_| FileError::UnknownEncoding)?;
        (Encoding::Utf8Bom, text.to_string())
    } else if let Ok(text) = std::str::from_utf8(bytes) {
        (Encoding::Utf8, text.to_string())
    } else {
        let text = SHIFT_JIS
            .decode_without_bom_handling_and_without_replacement(bytes)
            .ok_or(FileError::UnknownEncoding)?;
        (Encoding::ShiftJis, text.into_owned())
    };
    // A stray control character in a name is that row's problem; many of them mean the file
    // is not text at all.
    let controls = text
        .chars()
        .filter(|c| c.is_control() && !matches!(c, '\t' | '\r' | '\n'))
        .count();
    if controls >= 8 && controls * 100 >= text.chars().count() {
        return Err(FileError::Binary);
    }
    Ok((encoding, text))
}

/// Tab when the header line (the first line with more than separators, quotes and spaces)
/// has tabs and no commas; `None` when there is no such line.
fn detect_separator(text: &str) -> Option<Separator> {
    let header = text.split(['\r', '\n']).find(|line| {
        line.chars()
            .any(|c| !(c.is_whitespace() || c == ',' || c == '"'))
    })?;
    if header.contains('\t') && !header.contains(',') {
        Some(Separator::Tab)
    } else {
        Some(Separator::Comma)
    }
}

/// One record of the file: what Excel shows as one row.
#[derive(Debug)]
struct Record {
    fields: Vec<String>,
    /// The record ended at the end of the file inside a quoted field.
    unclosed_quote: bool,
}

/// Splits text into records (RFC 4180, read leniently as Excel does): a field that starts with
/// `"` is quoted up to the next lone `"` (`""` is one quote, separators and line breaks are
/// text); text after the closing quote is appended; a `"` inside an unquoted field is text.
/// CRLF, LF and CR end a record; an empty line is a record with one empty field, so record
/// numbers are Excel's row numbers.
fn split_records(text: &str, sep: char) -> Vec<Record> {
    let mut records = Vec::new();
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut in_quotes = false;
    let mut at_field_start = true;
    let mut started = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        started = true;
        if in_quotes {
            if c == '"' {
                if chars.peek() == Some(&'"') {
                    chars.next();
                    field.push('"');
                } else {
                    in_quotes = false;
                }
            } else {
                field.push(c);
            }
        } else if c == '"' && at_field_start {
            in_quotes = true;
            at_field_start = false;
        } else if c == sep {
            fields.push(std::mem::take(&mut field));
            at_field_start = true;
        } else if c == '\r' || c == '\n' {
            if c == '\r' && chars.peek() == Some(&'\n') {
                chars.next();
            }
            fields.push(std::mem::take(&mut field));
            records.push(Record {
                fields: std::mem::take(&mut fields),
                unclosed_quote: false,
            });
            at_field_start = true;
            started = false;
        } else {
            field.push(c);
            at_field_start = false;
        }
    }
    if started {
        fields.push(field);
        records.push(Record {
            fields,
            unclosed_quote: in_quotes,
        });
    }
    records
}

/// Maps header cells to the four columns; the rest are ignored and listed.
fn read_header(cells: &[String]) -> Result<(HeaderColumns, Vec<String>), FileError> {
    let mut found: [Option<ColumnRef>; 4] = [None, None, None, None];
    let mut ignored = Vec::new();
    for (i, cell) in cells.iter().enumerate() {
        let name = cell
            .trim()
            .trim_start_matches('\u{feff}')
            .trim()
            .to_string();
        let position = to_u32(i + 1);
        match Column::from_header(&name) {
            Some(column) => {
                let slot = &mut found[column as usize];
                if slot.is_some() {
                    return Err(FileError::DuplicateColumn {
                        column: position,
                        name,
                    });
                }
                *slot = Some(ColumnRef {
                    column: position,
                    name,
                });
            }
            None if name.is_empty() => {}
            None => ignored.push(name),
        }
    }
    match found {
        [Some(login_id), Some(name), Some(email), Some(role)] => Ok((
            HeaderColumns {
                login_id,
                name,
                email,
                role,
            },
            ignored,
        )),
        _ => Err(FileError::MissingColumns {
            missing: Column::ALL
                .into_iter()
                .zip(found.iter())
                .filter(|(_, f)| f.is_none())
                .map(|(c, _)| c.key().to_string())
                .collect(),
        }),
    }
}
