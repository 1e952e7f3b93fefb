//! Writing users files: exports and the template, in UTF-8 (BOM) or Shift_JIS.

use super::formula::escape_formula;
use super::read::Column;
use crate::lang::Message;
use crate::role::Role;
use encoding_rs::{EncoderResult, SHIFT_JIS};
use serde::{Deserialize, Serialize};

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
