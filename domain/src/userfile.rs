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
//!
//! **Formula escaping.** An export writes a cell that a spreadsheet would run as a formula
//! (starting with `=`, `+`, `-`, `@`, tab or CR) with a leading `'` (OWASP "CSV injection"),
//! and reading removes that `'` again: a cell that starts with `'` followed by one of those
//! characters loses its first `'`. More precisely, both sides apply the rule to any run of `'`
//! before such a character (`'=x` is written `''=x` and read back as `'=x`), so every value
//! survives export and import unchanged.

use crate::ids::{Email, LoginId, PersonName};
use crate::lang::{Lang, Message};
use crate::role::Role;
use encoding_rs::{EncoderResult, SHIFT_JIS};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use unicode_normalization::UnicodeNormalization;

/// Largest file accepted: 1 MiB.
pub const MAX_FILE_BYTES: usize = 1024 * 1024;
/// Most data rows (blank rows not counted) in one file.
pub const MAX_DATA_ROWS: usize = 1000;

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
/// Plan problem: a master's role cannot be changed by import.
pub const CODE_MASTER_ROLE_KEPT: &str = "E-USER-006";

/// The text encoding a file was read in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Encoding {
    /// UTF-8 without a byte order mark (also plain ASCII).
    Utf8,
    /// UTF-8 starting with the byte order mark EF BB BF (Excel's "CSV UTF-8").
    Utf8Bom,
    /// Shift_JIS as Windows writes it (code page 932, with the NEC and IBM extensions).
    ShiftJis,
}

impl Encoding {
    /// The name shown to people; the same in both languages.
    pub fn label(self) -> &'static str {
        match self {
            Encoding::Utf8 => "UTF-8",
            Encoding::Utf8Bom => "UTF-8 (BOM)",
            Encoding::ShiftJis => "Shift_JIS (CP932)",
        }
    }
}

/// The field separator a file was read with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Separator {
    Comma,
    Tab,
}

impl Separator {
    pub fn as_char(self) -> char {
        match self {
            Separator::Comma => ',',
            Separator::Tab => '\t',
        }
    }

    pub fn label_ja(self) -> &'static str {
        match self {
            Separator::Comma => "カンマ区切り",
            Separator::Tab => "タブ区切り",
        }
    }

    pub fn label_en(self) -> &'static str {
        match self {
            Separator::Comma => "comma-separated",
            Separator::Tab => "tab-separated",
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
                "CSVのテキストファイルではありません(Excelブックの .xlsx や、UTF-16の「Unicode テキスト」など)。\
                 Excelで「名前を付けて保存」から「CSV UTF-8 (コンマ区切り)」を選んで保存し直してください。",
                "This is not a CSV text file (it may be an Excel workbook, .xlsx, or UTF-16 \
                 \"Unicode Text\"). In Excel, use Save As with \"CSV UTF-8 (Comma delimited)\" \
                 and choose that file.",
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
    fn whole_row(row: u32, code: &str, message: Message) -> RowProblem {
        RowProblem {
            row,
            column: None,
            column_name: None,
            code: code.to_string(),
            message,
        }
    }

    fn at(row: u32, column: &ColumnRef, code: &str, message: Message) -> RowProblem {
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

/// A data row without problems. `login_id` as in the file (trimmed), `name` normalised to NFC
/// as [`PersonName`] keeps it, `email` as [`Email`] keeps it. `role` is always `Some` for rows
/// that [`read_users_file`] returns (a row without a known role has a problem instead).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileRow {
    pub row: u32,
    pub login_id: String,
    pub name: String,
    pub email: String,
    pub role: Option<Role>,
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
}

/// The four columns a users file must have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Column {
    LoginId,
    Name,
    Email,
    Role,
}

impl Column {
    const ALL: [Column; 4] = [Column::LoginId, Column::Name, Column::Email, Column::Role];

    /// The English name used in exports, templates and [`FileError::MissingColumns`].
    fn key(self) -> &'static str {
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

/// Reads a users file. See the module documentation for the format.
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

    let header_index = records
        .iter()
        .position(|r| !r.is_blank())
        .ok_or(FileError::Empty)?;
    let header = &records[header_index];
    let (columns, ignored_columns) = read_header(&header.fields)?;

    let data: Vec<(u32, &Record)> = records
        .iter()
        .enumerate()
        .skip(header_index + 1)
        .filter(|(_, r)| !r.is_blank())
        .map(|(i, r)| (to_u32(i + 1), r))
        .collect();
    if data.len() > MAX_DATA_ROWS {
        return Err(FileError::TooManyRows {
            rows: data.len(),
            max: MAX_DATA_ROWS,
        });
    }

    let width = header.fields.len();
    let mut rows = Vec::new();
    let mut problems = Vec::new();
    let mut seen: HashMap<String, u32> = HashMap::new();
    for (row, record) in &data {
        let row = *row;
        if record.unclosed_quote {
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
        if record.fields.len() != width {
            let found = record.fields.len();
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
        let before = problems.len();
        let cell = |c: &ColumnRef| unescape_cell(&record.fields[c.column as usize - 1]);
        let login_raw = cell(&columns.login_id);
        let name_raw = cell(&columns.name);
        let email_raw = cell(&columns.email);
        let role_raw = cell(&columns.role);

        let login_id = match check(row, &columns.login_id, &login_raw, LoginId::parse) {
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
        };
        let name = check(row, &columns.name, &name_raw, PersonName::parse)
            .map_err(|p| problems.push(p))
            .ok();
        let email = check(row, &columns.email, &email_raw, Email::parse)
            .map_err(|p| problems.push(p))
            .ok();
        let role = check(row, &columns.role, &role_raw, |s| {
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
        .ok();
        if problems.len() > before {
            continue;
        }
        if let (Some(login_id), Some(name), Some(email), Some(role)) = (login_id, name, email, role)
        {
            rows.push(FileRow {
                row,
                login_id: login_id.as_str().to_string(),
                name: name.as_str().to_string(),
                email: email.as_str().to_string(),
                role: Some(role),
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
    })
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

fn sort_problems(problems: &mut [RowProblem]) {
    problems.sort_by_key(|p| (p.row, p.column.unwrap_or(0)));
}

fn to_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// Finds the encoding and decodes; refuses binary files.
fn decode(bytes: &[u8]) -> Result<(Encoding, String), FileError> {
    if bytes.starts_with(&[0xFF, 0xFE]) || bytes.starts_with(&[0xFE, 0xFF]) || bytes.contains(&0) {
        return Err(FileError::Binary);
    }
    let (encoding, text) = if let Some(rest) = bytes.strip_prefix(&[0xEF, 0xBB, 0xBF]) {
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

impl Record {
    fn is_blank(&self) -> bool {
        self.fields.iter().all(|f| f.trim().is_empty())
    }
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

/// The characters that make a spreadsheet run a cell as a formula (OWASP "CSV injection").
fn is_formula_start(c: char) -> bool {
    matches!(c, '=' | '+' | '-' | '@' | '\t' | '\r')
}

/// Whether a value is written with a leading `'`: it starts with a formula character, after
/// any number of `'` (so that a value that itself starts with `'=` survives the round trip).
fn needs_formula_escape(value: &str) -> bool {
    value
        .trim_start_matches('\'')
        .chars()
        .next()
        .is_some_and(is_formula_start)
}

/// A cell as read: trimmed, and without the `'` that an export put before a formula character
/// (the exact inverse of [`escape_formula`]).
fn unescape_cell(raw: &str) -> String {
    let trimmed = raw.trim();
    match trimmed.strip_prefix('\'') {
        Some(rest) if needs_formula_escape(rest) => rest.to_string(),
        _ => trimmed.to_string(),
    }
}

/// A cell as written: with a leading `'` when [`needs_formula_escape`].
fn escape_formula(value: &str) -> String {
    if needs_formula_escape(value) {
        format!("'{value}")
    } else {
        value.to_string()
    }
}

/// How an import treats users that already exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ImportMode {
    /// Add new users; a row for an existing user must equal what is stored.
    AddOnly,
    /// Add new users and update existing ones.
    AddAndUpdate,
}

impl ImportMode {
    pub fn as_str(self) -> &'static str {
        match self {
            ImportMode::AddOnly => "add_only",
            ImportMode::AddAndUpdate => "add_and_update",
        }
    }

    /// Reads a value written by [`ImportMode::as_str`].
    pub fn parse(s: &str) -> Option<ImportMode> {
        match s.trim() {
            "add_only" => Some(ImportMode::AddOnly),
            "add_and_update" => Some(ImportMode::AddAndUpdate),
            _ => None,
        }
    }
}

/// A live (not deleted) user, as the planner compares it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExistingUser {
    pub login_id: String,
    pub name: String,
    pub email: String,
    pub role: Role,
}

/// What an import does with one row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum RowAction {
    /// A new user.
    Add,
    /// An existing user whose fields change; `changed` lists `"name"`, `"email"`, `"role"`
    /// (in that order). Strings rather than `&'static str` so that the plan deserialises.
    Update { changed: Vec<String> },
    /// An existing user equal to the row.
    Unchanged,
}

/// A row the import would write (or leave). For existing users `login_id` is the stored
/// spelling (a change of case alone is not a change).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlannedRow {
    pub row: u32,
    pub login_id: String,
    pub name: String,
    pub email: String,
    pub role: Role,
    pub action: RowAction,
}

/// What importing a file would do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportPlan {
    /// The rows without problems, in file order.
    pub rows: Vec<PlannedRow>,
    /// The file's problems and the plan's, sorted by row, then column.
    pub problems: Vec<RowProblem>,
    pub adds: u32,
    pub updates: u32,
    pub unchanged: u32,
}

impl ImportPlan {
    /// No problem at all: only then may the plan be written.
    pub fn is_clean(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Compares the file's rows with the live users. Rows are matched by login ID without regard
/// to case. A row equal to the stored user is unchanged in both modes (so importing a file
/// twice changes nothing); a different one is refused in add-only mode (`E-USER-003`) and an
/// update otherwise. The master role is neither given nor taken away by import (`E-USER-005`,
/// `E-USER-006`), and adds beyond `max_other_users` non-master users are refused, in row order
/// (`E-USER-002`).
pub fn plan_import(
    file: &ParsedFile,
    existing: &[ExistingUser],
    mode: ImportMode,
    max_other_users: u32,
) -> ImportPlan {
    let stored: HashMap<String, &ExistingUser> = existing
        .iter()
        .map(|u| (u.login_id.to_ascii_lowercase(), u))
        .collect();
    let mut others = to_u32(existing.iter().filter(|u| u.role != Role::Master).count());
    let mut plan = ImportPlan {
        rows: Vec::new(),
        problems: file.problems.clone(),
        adds: 0,
        updates: 0,
        unchanged: 0,
    };
    let columns = &file.columns;
    for row in &file.rows {
        let Some(role) = row.role else {
            plan.problems.push(RowProblem::at(
                row.row,
                &columns.role,
                CODE_REQUIRED_EMPTY,
                Message::new(
                    format!("「{}」が空です。権限は必須です。", columns.role.name),
                    format!("'{}' is empty. The role is required.", columns.role.name),
                ),
            ));
            continue;
        };
        let id = &row.login_id;
        let master_not_given = || {
            RowProblem::at(
                row.row,
                &columns.role,
                CODE_MASTER_NOT_GIVEN,
                Message::new(
                    "マスターユーザ(master)の権限はインポートでは付けられません。admin か general にしてください。",
                    "The master role cannot be given by import. Use admin or general.",
                ),
            )
        };
        let action = match stored.get(&id.to_ascii_lowercase()) {
            None if role == Role::Master => {
                plan.problems.push(master_not_given());
                continue;
            }
            None => {
                if others >= max_other_users {
                    plan.problems.push(RowProblem::whole_row(
                        row.row,
                        CODE_USER_LIMIT,
                        Message::new(
                            format!(
                                "マスターユーザ以外の利用者は{max_other_users}名までのため、この行は追加できません。\
                                 不要な利用者を削除するか、ファイルの行を減らしてください。"
                            ),
                            format!(
                                "At most {max_other_users} users besides the master, so this row \
                                 cannot be added. Delete users who no longer need access, or \
                                 remove rows from the file."
                            ),
                        ),
                    ));
                    continue;
                }
                others += 1;
                (id.clone(), RowAction::Add)
            }
            Some(user) => {
                if user.role == Role::Master && role != Role::Master {
                    plan.problems.push(RowProblem::at(
                        row.row,
                        &columns.role,
                        CODE_MASTER_ROLE_KEPT,
                        Message::new(
                            format!(
                                "「{}」はマスターユーザです。マスターユーザの権限はインポートでは変えられません。\
                                 ファイルの権限を master に戻し、権限の変更は利用者ページで行ってください。",
                                user.login_id
                            ),
                            format!(
                                "'{}' is the master; a master's role cannot be changed by import. \
                                 Put master back in the file and change roles on the Users page.",
                                user.login_id
                            ),
                        ),
                    ));
                    continue;
                }
                if user.role != Role::Master && role == Role::Master {
                    plan.problems.push(master_not_given());
                    continue;
                }
                let mut changed = Vec::new();
                if user.name != row.name {
                    changed.push("name".to_string());
                }
                if user.email != row.email {
                    changed.push("email".to_string());
                }
                if user.role != role {
                    changed.push("role".to_string());
                }
                if changed.is_empty() {
                    (user.login_id.clone(), RowAction::Unchanged)
                } else if mode == ImportMode::AddOnly {
                    plan.problems.push(RowProblem::at(
                        row.row,
                        &columns.login_id,
                        CODE_LOGIN_ID_EXISTS,
                        Message::new(
                            format!(
                                "ログインID「{}」の利用者は既にいて、氏名・メールアドレス・権限のどれかが違います。\
                                 変更するには「追加と更新」を選んでください。",
                                user.login_id
                            ),
                            format!(
                                "A user with login ID '{}' already exists with other data. To \
                                 change it, choose \"add and update\".",
                                user.login_id
                            ),
                        ),
                    ));
                    continue;
                } else {
                    (user.login_id.clone(), RowAction::Update { changed })
                }
            }
        };
        let (login_id, action) = action;
        match action {
            RowAction::Add => plan.adds += 1,
            RowAction::Update { .. } => plan.updates += 1,
            RowAction::Unchanged => plan.unchanged += 1,
        }
        plan.rows.push(PlannedRow {
            row: row.row,
            login_id,
            name: row.name.clone(),
            email: row.email.clone(),
            role,
            action,
        });
    }
    sort_problems(&mut plan.problems);
    plan
}

/// One user in an export. The certificate fields are formatted by the caller and may be empty.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportRow {
    pub login_id: String,
    pub name: String,
    pub email: String,
    pub role: Role,
    pub certificate_state: String,
    pub serial: String,
    pub expires_on: String,
}

/// The encoding an export is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ExportEncoding {
    /// UTF-8 with BOM: Excel opens it with the right characters; holds every character.
    Utf8Bom,
    /// Shift_JIS (CP932), for older tools; refuses characters it cannot hold.
    ShiftJis,
}

impl ExportEncoding {
    pub fn as_str(self) -> &'static str {
        match self {
            ExportEncoding::Utf8Bom => "utf8",
            ExportEncoding::ShiftJis => "sjis",
        }
    }

    /// Reads a value written by [`ExportEncoding::as_str`].
    pub fn parse(s: &str) -> Option<ExportEncoding> {
        match s.trim() {
            "utf8" => Some(ExportEncoding::Utf8Bom),
            "sjis" => Some(ExportEncoding::ShiftJis),
            _ => None,
        }
    }
}

/// An export that cannot be written in the asked encoding.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExportError {
    /// A character Shift_JIS cannot hold (or would not give back unchanged).
    #[error("E-CSV-014 {character:?} in {column} of {login_id} cannot be written in Shift_JIS")]
    Unrepresentable {
        login_id: String,
        column: &'static str,
        character: char,
    },
}

impl ExportError {
    pub fn code(&self) -> &'static str {
        match self {
            ExportError::Unrepresentable { .. } => "E-CSV-014",
        }
    }

    pub fn message(&self) -> Message {
        match self {
            ExportError::Unrepresentable {
                login_id,
                column,
                character,
            } => {
                let code = u32::from(*character);
                Message::new(
                    format!(
                        "「{login_id}」の {column} にある文字「{character}」(U+{code:04X})はShift_JISで書けません。\
                         UTF-8で書き出してください(Excelでもそのまま開けます)。"
                    ),
                    format!(
                        "The character '{character}' (U+{code:04X}) in {column} of '{login_id}' \
                         cannot be written in Shift_JIS. Export as UTF-8 instead (Excel opens it \
                         as well)."
                    ),
                )
            }
        }
    }
}

/// The export's columns, in order.
pub const EXPORT_HEADER: [&str; 7] = [
    "login_id",
    "name",
    "email",
    "role",
    "certificate_state",
    "serial",
    "expires_on",
];

/// Writes users as CSV: the [`EXPORT_HEADER`] line, one line per user, CRLF line ends,
/// RFC 4180 quoting and formula escaping (see the module documentation). UTF-8 starts with the
/// BOM; Shift_JIS refuses a character it cannot hold rather than writing a substitute.
pub fn write_users_csv(
    rows: &[ExportRow],
    encoding: ExportEncoding,
) -> Result<Vec<u8>, ExportError> {
    let mut out = CsvOut::new(encoding);
    out.line("", EXPORT_HEADER.map(|h| (h, h)).as_slice())?;
    for r in rows {
        out.line(
            &r.login_id,
            &[
                ("login_id", r.login_id.as_str()),
                ("name", r.name.as_str()),
                ("email", r.email.as_str()),
                ("role", r.role.as_str()),
                ("certificate_state", r.certificate_state.as_str()),
                ("serial", r.serial.as_str()),
                ("expires_on", r.expires_on.as_str()),
            ],
        )?;
    }
    Ok(out.bytes)
}

/// A file to start from: the header `login_id,name,email,role` and two example users.
pub fn template_csv(encoding: ExportEncoding) -> Vec<u8> {
    const LINES: [[&str; 4]; 3] = [
        ["login_id", "name", "email", "role"],
        [
            "yamada01",
            "山田 太郎",
            "taro.yamada@example.co.jp",
            "admin",
        ],
        [
            "sato_hanako",
            "佐藤 花子",
            "hanako.sato@example.co.jp",
            "general",
        ],
    ];
    let mut out = CsvOut::new(encoding);
    for line in LINES {
        let cells = Column::ALL.map(|c| c.key()).into_iter().zip(line);
        // Every character above is in Shift_JIS, so this cannot fail; if it did, the line
        // would be left out rather than the template refused.
        let _ = out.line(line[0], &cells.collect::<Vec<_>>());
    }
    out.bytes
}

/// CSV bytes being written.
struct CsvOut {
    encoding: ExportEncoding,
    bytes: Vec<u8>,
}

impl CsvOut {
    fn new(encoding: ExportEncoding) -> CsvOut {
        let bytes = match encoding {
            ExportEncoding::Utf8Bom => vec![0xEF, 0xBB, 0xBF],
            ExportEncoding::ShiftJis => Vec::new(),
        };
        CsvOut { encoding, bytes }
    }

    /// Writes one line of `(column, value)` cells; nothing when a value cannot be encoded.
    fn line(&mut self, login_id: &str, cells: &[(&'static str, &str)]) -> Result<(), ExportError> {
        let mut line = Vec::new();
        for (i, (column, value)) in cells.iter().enumerate() {
            if i > 0 {
                line.push(b',');
            }
            let cell = quote(&escape_formula(value));
            match self.encoding {
                ExportEncoding::Utf8Bom => line.extend_from_slice(cell.as_bytes()),
                ExportEncoding::ShiftJis => {
                    encode_shift_jis(&cell, &mut line).map_err(|character| {
                        ExportError::Unrepresentable {
                            login_id: login_id.to_string(),
                            column,
                            character,
                        }
                    })?
                }
            }
        }
        line.extend_from_slice(b"\r\n");
        self.bytes.extend_from_slice(&line);
        Ok(())
    }
}

/// RFC 4180: quotes a field that has a comma, a quote or a line break; doubles its quotes.
/// One CSV cell as certdesk writes it: formula-escaped (a leading `'` before `=`, `+`, `-`,
/// `@`, tab or CR) and quoted when needed. For other CSV downloads (e.g. bulk results).
pub fn csv_cell(value: &str) -> String {
    quote(&escape_formula(value))
}

fn quote(cell: &str) -> String {
    if cell.contains([',', '"', '\r', '\n']) {
        format!("\"{}\"", cell.replace('"', "\"\""))
    } else {
        cell.to_string()
    }
}

/// Appends `text` in Shift_JIS, or returns the first character that Shift_JIS cannot hold or
/// would not give back unchanged (¥ and ‾ become \ and ~, − becomes －).
fn encode_shift_jis(text: &str, out: &mut Vec<u8>) -> Result<(), char> {
    let start = out.len();
    let mut encoder = SHIFT_JIS.new_encoder();
    let mut buf = [0u8; 256];
    let mut rest = text;
    loop {
        let (result, read, written) =
            encoder.encode_from_utf8_without_replacement(rest, &mut buf, true);
        out.extend_from_slice(&buf[..written]);
        rest = &rest[read..];
        match result {
            EncoderResult::InputEmpty => break,
            EncoderResult::OutputFull => {}
            EncoderResult::Unmappable(c) => {
                out.truncate(start);
                return Err(c);
            }
        }
    }
    let back = SHIFT_JIS.decode_without_bom_handling_and_without_replacement(&out[start..]);
    if back.as_deref() == Some(text) {
        return Ok(());
    }
    out.truncate(start);
    let changed = text.chars().find(|c| {
        let mut one = [0u8; 4];
        let one: &str = c.encode_utf8(&mut one);
        let (bytes, _, unmappable) = SHIFT_JIS.encode(one);
        unmappable
            || SHIFT_JIS
                .decode_without_bom_handling_and_without_replacement(&bytes)
                .as_deref()
                != Some(one)
    });
    Err(changed.unwrap_or('\u{fffd}'))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE_UTF8: &[u8] = include_bytes!("../../tests/fixtures/users-sample-utf8.csv");
    const SAMPLE_SJIS: &[u8] = include_bytes!("../../tests/fixtures/users-sample-sjis.csv");

    fn read(text: &str) -> ParsedFile {
        read_users_file(text.as_bytes()).expect("the file is read")
    }

    /// (row, column, code) of each problem.
    fn problems(problems: &[RowProblem]) -> Vec<(u32, Option<u32>, &str)> {
        problems
            .iter()
            .map(|p| (p.row, p.column, p.code.as_str()))
            .collect()
    }

    fn user(login_id: &str, name: &str, email: &str, role: Role) -> ExistingUser {
        ExistingUser {
            login_id: login_id.into(),
            name: name.into(),
            email: email.into(),
            role,
        }
    }

    const HEADER: &str = "login_id,name,email,role\r\n";

    fn sample_rows() -> Vec<(u32, &'static str, &'static str, &'static str, Role)> {
        vec![
            (
                2,
                "yamada01",
                "山田 太郎",
                "taro.yamada@example.co.jp",
                Role::Admin,
            ),
            (
                3,
                "sato_hanako",
                "さとう はなこ",
                "hanako.sato@example.co.jp",
                Role::General,
            ),
            (
                4,
                "takahashi1",
                "髙橋 一郎",
                "ichiro.takahashi@example.co.jp",
                Role::General,
            ),
            (
                5,
                "suzuki-k",
                "鈴木, 健太",
                "kenta.suzuki@example.co.jp",
                Role::Admin,
            ),
            (
                6,
                "TanakaM05",
                "田中 美咲",
                "misaki.tanaka@example.co.jp",
                Role::General,
            ),
        ]
    }

    fn assert_sample(file: &ParsedFile) {
        assert_eq!(file.problems, vec![]);
        assert_eq!(file.records, 5);
        assert_eq!(file.separator, Separator::Comma);
        assert_eq!(file.ignored_columns, Vec::<String>::new());
        assert_eq!(file.columns.email.name, "メールアドレス");
        let got: Vec<_> = file
            .rows
            .iter()
            .map(|r| {
                (
                    r.row,
                    r.login_id.as_str(),
                    r.name.as_str(),
                    r.email.as_str(),
                    r.role.expect("role"),
                )
            })
            .collect();
        assert_eq!(got, sample_rows());
    }

    #[test]
    fn the_utf8_sample_with_bom_is_read_with_japanese_headers() {
        assert!(SAMPLE_UTF8.starts_with(&[0xEF, 0xBB, 0xBF]));
        let file = read_users_file(SAMPLE_UTF8).expect("read");
        assert_eq!(file.encoding, Encoding::Utf8Bom);
        assert_sample(&file);
    }

    #[test]
    fn the_utf8_sample_without_bom_is_utf8() {
        let file = read_users_file(&SAMPLE_UTF8[3..]).expect("read");
        assert_eq!(file.encoding, Encoding::Utf8);
        assert_sample(&file);
    }

    #[test]
    fn the_shift_jis_sample_is_read_with_the_same_content() {
        assert!(std::str::from_utf8(std::hint::black_box(SAMPLE_SJIS)).is_err());
        let file = read_users_file(SAMPLE_SJIS).expect("read");
        assert_eq!(file.encoding, Encoding::ShiftJis);
        assert_sample(&file);
    }

    #[test]
    fn encoding_labels() {
        assert_eq!(Encoding::Utf8.label(), "UTF-8");
        assert_eq!(Encoding::Utf8Bom.label(), "UTF-8 (BOM)");
        assert_eq!(Encoding::ShiftJis.label(), "Shift_JIS (CP932)");
        assert_eq!(Separator::Tab.label(Lang::En), "tab-separated");
    }

    #[test]
    fn a_tab_separated_file_is_read() {
        let file = read(
            "ログインID\t氏名\tメールアドレス\t権限\nyamada01\t山田, 太郎\ttaro@example.co.jp\t管理者\n",
        );
        assert_eq!(file.separator, Separator::Tab);
        assert_eq!(file.problems, vec![]);
        assert_eq!(file.rows[0].name, "山田, 太郎");
        assert_eq!(file.rows[0].role, Some(Role::Admin));
    }

    #[test]
    fn a_header_with_commas_and_tabs_is_comma_separated() {
        let file = read("login_id,name,email,role,memo\tx\n");
        assert_eq!(file.separator, Separator::Comma);
        assert_eq!(file.ignored_columns, vec!["memo\tx".to_string()]);
    }

    #[test]
    fn quoted_commas_quotes_and_line_breaks_keep_the_row_numbers_right() {
        let text = "login_id,name,email,role\r\n\
                    user01,\"山田, \"\"太郎\"\"\",a@example.co.jp,admin\r\n\
                    user02,\"二行\r\nの名前\",b@example.co.jp,general\r\n\
                    user03,佐藤 花子,bad-email,general\r\n";
        let file = read(text);
        assert_eq!(file.rows.len(), 1);
        assert_eq!(file.rows[0].name, "山田, \"太郎\"");
        // Row 3's name has a line break (a control character), row 4 is the next record.
        assert_eq!(
            problems(&file.problems),
            vec![(3, Some(2), "E-VAL-005"), (4, Some(3), "E-VAL-006")]
        );
        assert_eq!(file.records, 3);
        assert_eq!(file.last_row, 4);
    }

    #[test]
    fn lf_only_and_a_last_line_without_line_break_are_read() {
        let file = read("login_id,name,email,role\nuser01,A,a@example.co.jp,admin\nuser02,B,b@example.co.jp,general");
        assert_eq!(file.rows.len(), 2);
        assert_eq!(file.rows[1].row, 3);
    }

    #[test]
    fn header_names_are_trimmed_and_case_is_ignored_and_unknown_columns_are_listed() {
        let file = read(" Login_ID , E-Mail ,NAME,Role,certificate_state,,メモ\r\nuser01,a@example.co.jp,A,General,valid,,x\r\n");
        assert_eq!(file.problems, vec![]);
        assert_eq!(
            file.ignored_columns,
            vec!["certificate_state".to_string(), "メモ".into()]
        );
        assert_eq!(
            file.columns.email,
            ColumnRef {
                column: 2,
                name: "E-Mail".into()
            }
        );
        assert_eq!(file.rows[0].email, "a@example.co.jp");
        assert_eq!(file.rows[0].role, Some(Role::General));
    }

    #[test]
    fn all_header_aliases_are_accepted() {
        for header in [
            "loginid,名前,メール,role",
            "ログインID,氏名,e-mail,権限",
            "login_id,name,email,role",
        ] {
            let file = read(&format!("{header}\nuser01,A,a@example.co.jp,一般ユーザ\n"));
            assert_eq!(file.rows.len(), 1, "{header}");
        }
    }

    #[test]
    fn roles_are_accepted_in_english_and_japanese() {
        for (text, role) in [
            ("master", Role::Master),
            ("MASTER", Role::Master),
            ("マスター", Role::Master),
            ("マスターユーザ", Role::Master),
            ("Admin", Role::Admin),
            ("管理者", Role::Admin),
            ("管理者ユーザ", Role::Admin),
            ("general", Role::General),
            ("一般", Role::General),
            ("一般ユーザ", Role::General),
            (" ﾏｽﾀｰ ", Role::Master),
            ("管理者ユーザー", Role::Admin),
        ] {
            assert_eq!(parse_role(text), Some(role), "{text}");
        }
        assert_eq!(parse_role("user"), None);
        assert_eq!(parse_role(""), None);
    }

    #[test]
    fn too_large_files_are_refused_before_anything_else() {
        let mut bytes = vec![b'a'; MAX_FILE_BYTES + 1];
        bytes[0] = 0;
        assert_eq!(
            read_users_file(&bytes),
            Err(FileError::TooLarge {
                bytes: MAX_FILE_BYTES + 1,
                max: MAX_FILE_BYTES
            })
        );
        assert_eq!(
            read_users_file(&bytes).expect_err("refused").code(),
            "E-CSV-001"
        );
        let mut exact = HEADER.as_bytes().to_vec();
        exact.resize(MAX_FILE_BYTES, b' ');
        assert!(read_users_file(&exact).is_ok());
    }

    #[test]
    fn binary_files_are_refused() {
        let nul = b"login_id,name,email,role\r\nuser01,A\0,a@example.co.jp,admin\r\n";
        assert_eq!(read_users_file(nul), Err(FileError::Binary));
        let utf16: Vec<u8> = [0xFF, 0xFE]
            .into_iter()
            .chain("login_id".encode_utf16().flat_map(u16::to_le_bytes))
            .collect();
        assert_eq!(read_users_file(&utf16), Err(FileError::Binary));
        assert_eq!(
            read_users_file(&[0xFE, 0xFF, 0x30, 0xED]),
            Err(FileError::Binary)
        );
        let controls = "login_id,name,email,role\n\u{1}\u{2}\u{3}\u{4}\u{5}\u{6}\u{7}\u{8}\n";
        assert_eq!(read_users_file(controls.as_bytes()), Err(FileError::Binary));
        assert_eq!(FileError::Binary.code(), "E-CSV-002");
    }

    #[test]
    fn bytes_neither_utf8_nor_shift_jis_are_refused() {
        let err = read_users_file(&[0x80, 0xFF, 0xFF]).expect_err("refused");
        assert_eq!(err, FileError::UnknownEncoding);
        assert_eq!(err.code(), "E-CSV-003");
        assert!(err.message().en.contains("CSV UTF-8"));
        assert!(err.message().ja.contains("CSV (コンマ区切り)"));
        // A BOM followed by bytes that are not UTF-8.
        assert_eq!(
            read_users_file(&[0xEF, 0xBB, 0xBF, 0x8E, 0x52]),
            Err(FileError::UnknownEncoding)
        );
    }

    #[test]
    fn empty_files_and_files_of_blank_lines_are_refused() {
        for text in ["", "\r\n\r\n", "  \n\t\n", ",,,\r\n\"\",\r\n", "\u{feff}"] {
            assert_eq!(
                read_users_file(text.as_bytes()),
                Err(FileError::Empty),
                "{text:?}"
            );
        }
        assert_eq!(read_users_file(&[0xEF, 0xBB, 0xBF]), Err(FileError::Empty));
        assert_eq!(FileError::Empty.code(), "E-CSV-004");
    }

    #[test]
    fn a_header_without_a_required_column_is_refused_and_says_which() {
        let err =
            read_users_file("ログインID,氏名,メモ\nuser01,A,x\n".as_bytes()).expect_err("refused");
        assert_eq!(
            err,
            FileError::MissingColumns {
                missing: vec!["email".into(), "role".into()]
            }
        );
        assert_eq!(err.code(), "E-CSV-005");
        assert!(err.message().ja.contains("メールアドレス、権限"));
        assert!(err.message().en.contains("email, role"));
        assert!(err.message().en.contains("e-mail"));
    }

    #[test]
    fn a_column_named_twice_is_refused() {
        let err =
            read_users_file("login_id,name,email,氏名,role\n".as_bytes()).expect_err("refused");
        assert_eq!(
            err,
            FileError::DuplicateColumn {
                column: 4,
                name: "氏名".into()
            }
        );
        assert_eq!(err.code(), "E-CSV-006");
    }

    #[test]
    fn more_than_1000_data_rows_are_refused_and_1000_are_read() {
        let row = "user01,A,a@example.co.jp,general\n";
        let ok = format!("{HEADER}{}\n\n", row.repeat(MAX_DATA_ROWS));
        assert_eq!(read(&ok).records, 1000);
        let too_many = format!("{HEADER}{}", row.repeat(MAX_DATA_ROWS + 1));
        let err = read_users_file(too_many.as_bytes()).expect_err("refused");
        assert_eq!(
            err,
            FileError::TooManyRows {
                rows: 1001,
                max: 1000
            }
        );
        assert_eq!(err.code(), "E-CSV-007");
    }

    #[test]
    fn blank_rows_are_skipped_but_keep_their_row_numbers() {
        let file =
            read("\r\nlogin_id,name,email,role\r\n\r\n , ,　, \r\nuser01,A,bad,admin\r\n\r\n");
        assert_eq!(file.records, 1);
        assert_eq!(problems(&file.problems), vec![(5, Some(3), "E-VAL-006")]);
        assert_eq!(file.last_row, 6);
    }

    #[test]
    fn a_bad_email_in_row_3_is_reported_at_row_3_column_3_with_the_files_header() {
        let text = "ログインID,氏名,メールアドレス,権限\n\
                    user01,山田 太郎,taro@example.co.jp,管理者\n\
                    user02,佐藤 花子,hanako@,一般\n";
        let file = read(text);
        assert_eq!(
            file.problems,
            vec![RowProblem {
                row: 3,
                column: Some(3),
                column_name: Some("メールアドレス".into()),
                code: "E-VAL-006".into(),
                message: crate::ValidationError::Email.message(),
            }]
        );
        assert_eq!(file.rows.len(), 1);
        assert_eq!(file.records, 2);
    }

    #[test]
    fn every_problem_of_a_row_is_reported() {
        let text = format!(
            "{HEADER}ab,{},,boss\r\n",
            "あ".repeat(crate::ids::PERSON_NAME_MAX + 1)
        );
        let file = read(&text);
        assert_eq!(
            problems(&file.problems),
            vec![
                (2, Some(1), "E-VAL-004"),
                (2, Some(2), "E-VAL-005"),
                (2, Some(3), "E-CSV-011"),
                (2, Some(4), "E-CSV-012"),
            ]
        );
        assert_eq!(file.problems[2].column_name.as_deref(), Some("email"));
        assert!(file.problems[3].message.ja.contains("boss"));
        assert!(file.rows.is_empty());
    }

    #[test]
    fn every_required_field_may_be_empty_and_is_reported() {
        let file = read(&format!("{HEADER} ,\"\",x@example.co.jp,\r\n"));
        assert_eq!(
            problems(&file.problems),
            vec![
                (2, Some(1), "E-CSV-011"),
                (2, Some(2), "E-CSV-011"),
                (2, Some(4), "E-CSV-011"),
            ]
        );
    }

    #[test]
    fn a_row_with_more_or_fewer_fields_is_reported_as_a_whole() {
        let file = read(&format!(
            "{HEADER}user01,山田, 太郎,a@example.co.jp,admin\r\nuser02,B,b@example.co.jp\r\nuser03,C,c@example.co.jp,admin\r\n"
        ));
        assert_eq!(
            problems(&file.problems),
            vec![(2, None, "E-CSV-010"), (3, None, "E-CSV-010")]
        );
        assert!(file.problems[0]
            .message
            .en
            .contains("has 5 fields but the header has 4"));
        assert!(file.problems[1].message.ja.contains("3個"));
        assert_eq!(file.rows.len(), 1);
        assert_eq!(file.records, 3);
    }

    #[test]
    fn an_unclosed_quote_is_reported_on_its_row() {
        let file = read(&format!(
            "{HEADER}user01,A,a@example.co.jp,admin\r\nuser02,\"B,b@example.co.jp,admin\r\nuser03,C,c@example.co.jp,admin\r\n"
        ));
        assert_eq!(problems(&file.problems), vec![(3, None, "E-CSV-015")]);
        assert_eq!(file.last_row, 3);
    }

    #[test]
    fn a_login_id_twice_in_the_file_names_the_earlier_row() {
        let file = read(&format!(
            "{HEADER}Taro01,A,a@example.co.jp,admin\r\nuser02,B,b@example.co.jp,general\r\ntaro01,C,c@example.co.jp,general\r\n"
        ));
        assert_eq!(problems(&file.problems), vec![(4, Some(1), "E-CSV-013")]);
        assert!(file.problems[0].message.ja.contains("2行目"));
        assert!(file.problems[0].message.en.contains("row 2"));
        assert_eq!(file.rows.len(), 2);
    }

    #[test]
    fn values_are_trimmed_and_names_normalised() {
        let file = read(&format!(
            "{HEADER}  user01 , \u{30AB}\u{3099}ン ,  a@example.co.jp ,  admin \r\n"
        ));
        assert_eq!(
            file.rows,
            vec![FileRow {
                row: 2,
                login_id: "user01".into(),
                name: "ガン".into(),
                email: "a@example.co.jp".into(),
                role: Some(Role::Admin),
            }]
        );
    }

    #[test]
    fn the_formula_escape_of_an_export_is_undone() {
        let file = read(&format!(
            "{HEADER}'-user01,'=1+2,a@example.co.jp,admin\r\nuser02,'Ann,b@example.co.jp,admin\r\nuser03,''=x,c@example.co.jp,admin\r\n"
        ));
        let names: Vec<_> = file
            .rows
            .iter()
            .map(|r| (r.login_id.as_str(), r.name.as_str()))
            .collect();
        assert_eq!(
            names,
            vec![("-user01", "=1+2"), ("user02", "'Ann"), ("user03", "'=x")]
        );
    }

    fn parsed(rows: &[(&str, &str, &str, &str)]) -> ParsedFile {
        let mut text = HEADER.to_string();
        for (id, name, email, role) in rows {
            text.push_str(&format!("{id},{name},{email},{role}\r\n"));
        }
        read(&text)
    }

    #[test]
    fn plan_counts_adds_updates_and_unchanged() {
        let file = parsed(&[
            ("new001", "新人 一郎", "new@example.co.jp", "general"),
            ("TARO01", "山田 太郎", "taro@example.co.jp", "admin"),
            ("hana01", "佐藤 花子", "hana.new@example.co.jp", "admin"),
        ]);
        let existing = [
            user("taro01", "山田 太郎", "taro@example.co.jp", Role::Admin),
            user("hana01", "佐藤 花子", "hana@example.co.jp", Role::General),
        ];
        let plan = plan_import(&file, &existing, ImportMode::AddAndUpdate, 99);
        assert!(plan.is_clean());
        assert_eq!((plan.adds, plan.updates, plan.unchanged), (1, 1, 1));
        let actions: Vec<_> = plan
            .rows
            .iter()
            .map(|r| (r.row, r.login_id.as_str(), r.action.clone()))
            .collect();
        assert_eq!(
            actions,
            vec![
                (2, "new001", RowAction::Add),
                (3, "taro01", RowAction::Unchanged),
                (
                    4,
                    "hana01",
                    RowAction::Update {
                        changed: vec!["email".into(), "role".into()]
                    }
                ),
            ]
        );
    }

    #[test]
    fn add_only_refuses_a_row_that_differs_from_the_stored_user_and_keeps_equal_ones() {
        let file = parsed(&[
            ("taro01", "山田 太郎", "taro@example.co.jp", "admin"),
            ("hana01", "佐藤 花子", "hana@example.co.jp", "admin"),
            ("new001", "新人 一郎", "new@example.co.jp", "general"),
        ]);
        let existing = [
            user("taro01", "山田 太郎", "taro@example.co.jp", Role::Admin),
            user("Hana01", "佐藤 花子", "hana@example.co.jp", Role::General),
        ];
        let plan = plan_import(&file, &existing, ImportMode::AddOnly, 99);
        assert_eq!(problems(&plan.problems), vec![(3, Some(1), "E-USER-003")]);
        assert!(plan.problems[0].message.ja.contains("追加と更新"));
        assert!(plan.problems[0].message.en.contains("Hana01"));
        assert_eq!((plan.adds, plan.updates, plan.unchanged), (1, 0, 1));
        assert!(!plan.is_clean());
    }

    #[test]
    fn adds_beyond_the_user_limit_are_refused_in_row_order() {
        // 98 other users and a master exist; the limit is 99 besides the master.
        let mut existing: Vec<ExistingUser> = (0..98)
            .map(|i| {
                user(
                    &format!("user{i:03}"),
                    "X",
                    "x@example.co.jp",
                    Role::General,
                )
            })
            .collect();
        existing.push(user("master1", "M", "m@example.co.jp", Role::Master));
        let file = parsed(&[
            ("user000", "X", "x@example.co.jp", "general"), // unchanged: not counted
            ("new001", "A", "a@example.co.jp", "general"),  // the 99th: fits
            ("new002", "B", "b@example.co.jp", "admin"),    // 100th
            ("user001", "Y", "x@example.co.jp", "general"), // update: not counted
            ("new003", "C", "c@example.co.jp", "general"),  // 100th again
        ]);
        let plan = plan_import(&file, &existing, ImportMode::AddAndUpdate, 99);
        assert_eq!(
            problems(&plan.problems),
            vec![(4, None, "E-USER-002"), (6, None, "E-USER-002")]
        );
        assert!(plan.problems[0].message.en.contains("At most 99 users"));
        assert_eq!((plan.adds, plan.updates, plan.unchanged), (1, 1, 1));
    }

    #[test]
    fn the_master_role_is_neither_given_nor_taken_by_import() {
        let existing = [
            user("master1", "M", "m@example.co.jp", Role::Master),
            user("admin01", "A", "a@example.co.jp", Role::Admin),
        ];
        let file = parsed(&[
            ("newmaster", "N", "n@example.co.jp", "master"),
            ("admin01", "A", "a@example.co.jp", "マスター"),
            ("master1", "M", "m@example.co.jp", "admin"),
            ("MASTER1", "M", "m@example.co.jp", "master"),
        ]);
        // Rows 4 and 5 have the same login ID: the file's own problem comes first.
        assert_eq!(problems(&file.problems), vec![(5, Some(1), "E-CSV-013")]);
        let plan = plan_import(&file, &existing, ImportMode::AddAndUpdate, 99);
        assert_eq!(
            problems(&plan.problems),
            vec![
                (2, Some(4), "E-USER-005"),
                (3, Some(4), "E-USER-005"),
                (4, Some(4), "E-USER-006"),
                (5, Some(1), "E-CSV-013"),
            ]
        );
        assert!(plan.problems[2].message.ja.contains("利用者ページ"));
        // The master's own row, unchanged, and a master's new name are fine.
        let file = parsed(&[("MASTER1", "M2", "m@example.co.jp", "master")]);
        let plan = plan_import(&file, &existing, ImportMode::AddAndUpdate, 99);
        assert!(plan.is_clean());
        assert_eq!(
            plan.rows[0].action,
            RowAction::Update {
                changed: vec!["name".into()]
            }
        );
        assert_eq!(plan.rows[0].login_id, "master1");
    }

    #[test]
    fn import_modes_round_trip() {
        for mode in [ImportMode::AddOnly, ImportMode::AddAndUpdate] {
            assert_eq!(ImportMode::parse(mode.as_str()), Some(mode));
        }
        assert_eq!(ImportMode::parse("replace"), None);
        for enc in [ExportEncoding::Utf8Bom, ExportEncoding::ShiftJis] {
            assert_eq!(ExportEncoding::parse(enc.as_str()), Some(enc));
        }
    }

    fn export_row(login_id: &str, name: &str, role: Role) -> ExportRow {
        ExportRow {
            login_id: login_id.into(),
            name: name.into(),
            email: format!("{}@example.co.jp", login_id.trim_start_matches('-')),
            role,
            certificate_state: "valid".into(),
            serial: "0A1B".into(),
            expires_on: "2027-04-01".into(),
        }
    }

    #[test]
    fn an_export_is_read_back_unchanged_including_formula_like_names() {
        let rows = vec![
            export_row("master1", "管理 太郎", Role::Master),
            export_row("user01", "=HYPERLINK(\"http://x\",\"y\")", Role::Admin),
            export_row("-user2", "+81 鈴木", Role::General),
            export_row("user03", "'=already", Role::General),
            export_row("user04", "髙橋, \"一郎\"", Role::General),
        ];
        for encoding in [ExportEncoding::Utf8Bom, ExportEncoding::ShiftJis] {
            let bytes = write_users_csv(&rows, encoding).expect("written");
            let file = read_users_file(&bytes).expect("read back");
            assert_eq!(file.problems, vec![], "{encoding:?}");
            assert_eq!(
                file.ignored_columns,
                vec!["certificate_state", "serial", "expires_on"]
            );
            let existing: Vec<ExistingUser> = rows
                .iter()
                .map(|r| user(&r.login_id, &r.name, &r.email, r.role))
                .collect();
            for mode in [ImportMode::AddOnly, ImportMode::AddAndUpdate] {
                let plan = plan_import(&file, &existing, mode, 99);
                assert!(plan.is_clean(), "{encoding:?} {mode:?}");
                assert_eq!((plan.adds, plan.updates, plan.unchanged), (0, 0, 5));
            }
        }
        let text =
            String::from_utf8(write_users_csv(&rows, ExportEncoding::Utf8Bom).expect("written"))
                .expect("utf-8");
        assert!(text.starts_with(
            "\u{feff}login_id,name,email,role,certificate_state,serial,expires_on\r\n"
        ));
        assert!(text.contains("\r\nuser01,\"'=HYPERLINK(\"\"http://x\"\",\"\"y\"\")\",user01@example.co.jp,admin,valid,0A1B,2027-04-01\r\n"));
        assert!(text.contains("\r\n'-user2,'+81 鈴木,user2@example.co.jp,general,"));
        assert!(text.contains("\r\nuser03,''=already,"));
        assert!(text.contains("\r\nmaster1,管理 太郎,master1@example.co.jp,master,"));
    }

    #[test]
    fn every_formula_start_is_escaped() {
        for value in ["=1", "+1", "-1", "@SUM(A1)", "\tx", "\rx", "'=x", "''@x"] {
            assert_eq!(escape_formula(value), format!("'{value}"));
            assert_eq!(unescape_cell(&format!("'{value}")), value);
        }
        for value in ["", "a=1", "'a", "''a", "山田"] {
            assert_eq!(escape_formula(value), value);
        }
    }

    #[test]
    fn shift_jis_export_holds_cp932_characters_and_refuses_others() {
        let bytes = write_users_csv(
            &[export_row("user01", "髙橋 一郎", Role::General)],
            ExportEncoding::ShiftJis,
        )
        .expect("髙 is in CP932");
        assert!(!bytes.starts_with(&[0xEF, 0xBB, 0xBF]));
        assert!(bytes.windows(2).any(|w| w == [0xFB, 0xFC]), "髙 is FB FC");
        assert!(!bytes.windows(2).any(|w| w == b"&#"));
        for (name, character) in [("田中 😀", '😀'), ("𠮷田", '𠮷'), ("山田 ¥", '¥')]
        {
            let err = write_users_csv(
                &[
                    export_row("user01", "山田", Role::Admin),
                    export_row("user02", name, Role::General),
                ],
                ExportEncoding::ShiftJis,
            )
            .expect_err("refused");
            assert_eq!(
                err,
                ExportError::Unrepresentable {
                    login_id: "user02".into(),
                    column: "name",
                    character
                }
            );
            assert_eq!(err.code(), "E-CSV-014");
            assert!(err.message().en.contains("Export as UTF-8"));
        }
        // UTF-8 holds them all.
        let bytes = write_users_csv(
            &[export_row("user02", "𠮷田 😀", Role::General)],
            ExportEncoding::Utf8Bom,
        )
        .expect("utf-8");
        assert_eq!(
            read_users_file(&bytes).expect("read").rows[0].name,
            "𠮷田 😀"
        );
    }

    #[test]
    fn the_template_is_a_clean_file_in_both_encodings() {
        let utf8 = template_csv(ExportEncoding::Utf8Bom);
        assert!(utf8.starts_with(b"\xEF\xBB\xBFlogin_id,name,email,role\r\n"));
        for (bytes, encoding) in [
            (utf8, Encoding::Utf8Bom),
            (template_csv(ExportEncoding::ShiftJis), Encoding::ShiftJis),
        ] {
            let file = read_users_file(&bytes).expect("read");
            assert_eq!(file.encoding, encoding);
            assert_eq!(file.problems, vec![]);
            assert_eq!(file.rows.len(), 2);
            assert!(file
                .rows
                .iter()
                .all(|r| r.email.ends_with("@example.co.jp")));
            let plan = plan_import(&file, &[], ImportMode::AddOnly, 99);
            assert_eq!(plan.adds, 2);
        }
    }

    #[test]
    fn every_error_has_a_code_and_a_message_in_both_languages() {
        let errors = [
            FileError::TooLarge { bytes: 2, max: 1 },
            FileError::Binary,
            FileError::UnknownEncoding,
            FileError::Empty,
            FileError::MissingColumns {
                missing: vec!["role".into()],
            },
            FileError::DuplicateColumn {
                column: 2,
                name: "x".into(),
            },
            FileError::TooManyRows { rows: 2, max: 1 },
        ];
        for (i, e) in errors.iter().enumerate() {
            assert_eq!(e.code(), format!("E-CSV-00{}", i + 1));
            assert!(e.to_string().starts_with(e.code()));
            let m = e.message();
            assert!(!m.ja.is_empty() && !m.en.is_empty());
        }
    }

    #[test]
    fn what_the_ui_sends_to_the_browser_is_serde() {
        fn serde<T: Serialize + for<'de> Deserialize<'de>>() {}
        serde::<ImportPlan>();
        serde::<ParsedFile>();
        serde::<FileError>();
        serde::<ExportRow>();
    }
}
