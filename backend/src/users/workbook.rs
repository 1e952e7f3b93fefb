//! Users files as people upload them: text (CSV, 「Unicode テキスト」) or a workbook (`.xlsx`,
//! `.xlsm`, `.xls`, `.ods`), told apart by their content and checked against their name.
//!
//! Workbooks are decoded here (calamine, pure Rust) into cells at Excel's positions and read by
//! `certdesk_domain::userfile::read_users_sheet`. Before calamine expands anything, the
//! container is checked: a ZIP's entries are inflated into a counting sink up to
//! [`MAX_EXPANDED_BYTES`] (a ZIP bomb stops there, whatever its headers claim), an `.ods`
//! sheet's repeated rows and cells are counted, an `.xls` file's cell records are scanned for
//! the sheet's extent, and an encrypted workbook is refused (`E-CSV-009`). Macros are never
//! run: calamine only reads cell values (a formula's cached result).

use certdesk_domain::userfile::{
    read_users_file, read_users_sheet, CellRange, Encoding, FileError, ParsedFile, SheetCell,
    SheetChoice, SheetRow, MAX_DATA_ROWS, MAX_FILE_BYTES, MAX_WORKBOOK_BYTES,
};
use std::io::{Cursor, Read};

/// The most a workbook's ZIP entries may inflate to, together.
pub const MAX_EXPANDED_BYTES: u64 = 64 * 1024 * 1024;
/// The most entries a workbook's ZIP may have.
const MAX_ENTRIES: usize = 2000;
/// Columns read per row (A..IV); cells further right are ignored.
const MAX_COLUMNS: u32 = 256;
/// The most cells a sheet may span (rows × columns) before calamine lays it out.
const MAX_SHEET_CELLS: u64 = 2_000_000;
/// Non-blank rows kept beyond the data-row limit (header and title rows).
const SPARE_ROWS: usize = 20;

/// What a file's content is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Content {
    Text,
    /// A ZIP with `xl/workbook.xml`.
    Xlsx,
    /// A ZIP with an OpenDocument spreadsheet.
    Ods,
    /// An OLE compound file with a `Workbook` (or `Book`) stream.
    Xls,
    /// An OLE compound file with an `EncryptedPackage` (a password-protected .xlsx).
    Encrypted,
    /// A ZIP or OLE file that is not a workbook.
    OtherContainer,
}

impl Content {
    fn label(self) -> &'static str {
        match self {
            Content::Text => "テキスト / text",
            Content::Xlsx => "Excel ブック / Excel workbook (.xlsx)",
            Content::Ods => "OpenDocument (.ods)",
            Content::Xls => "Excel 97-2003 ブック / Excel 97-2003 workbook (.xls)",
            Content::Encrypted => "暗号化されたブック / encrypted workbook",
            Content::OtherContainer => "ZIP / OLE",
        }
    }
}

/// What a file's name says it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Named {
    Text,
    Xlsx,
    Xlsm,
    Xls,
    Ods,
    Unknown,
}

fn named(file_name: &str) -> Named {
    let ext = file_name
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "csv" | "txt" | "tsv" | "tab" => Named::Text,
        "xlsx" => Named::Xlsx,
        "xlsm" => Named::Xlsm,
        "xls" => Named::Xls,
        "ods" => Named::Ods,
        _ => Named::Unknown,
    }
}

const ZIP_MAGIC: &[u8] = b"PK\x03\x04";
const CFB_MAGIC: &[u8] = &[0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1];

fn sniff(bytes: &[u8]) -> Content {
    if bytes.starts_with(ZIP_MAGIC) {
        let Ok(zip) = zip9::ZipArchive::new(Cursor::new(bytes)) else {
            return Content::OtherContainer;
        };
        if zip.index_for_name("xl/workbook.xml").is_some() {
            return Content::Xlsx;
        }
        if zip.index_for_name("content.xml").is_some() {
            let mut zip = zip;
            let mut mimetype = String::new();
            let is_ods = zip.by_name("mimetype").is_ok_and(|f| {
                f.take(100).read_to_string(&mut mimetype).is_ok()
                    && mimetype.trim() == "application/vnd.oasis.opendocument.spreadsheet"
            });
            if is_ods {
                return Content::Ods;
            }
        }
        return Content::OtherContainer;
    }
    if bytes.starts_with(CFB_MAGIC) {
        let Ok(cfb) = cfb::CompoundFile::open(Cursor::new(bytes)) else {
            return Content::OtherContainer;
        };
        if cfb.is_stream("/EncryptedPackage") {
            return Content::Encrypted;
        }
        if cfb.is_stream("/Workbook") || cfb.is_stream("/Book") {
            return Content::Xls;
        }
        return Content::OtherContainer;
    }
    Content::Text
}

/// Reads an uploaded users file: text through `read_users_file`, a workbook through its sheet
/// (`sheet`, or the first). Refuses a file whose name and content disagree (`E-CSV-019`).
pub fn read_upload(
    file_name: &str,
    bytes: &[u8],
    sheet: Option<&str>,
) -> Result<ParsedFile, FileError> {
    if bytes.len() > MAX_WORKBOOK_BYTES {
        return Err(FileError::TooLarge {
            bytes: bytes.len(),
            max: MAX_WORKBOOK_BYTES,
        });
    }
    let content = sniff(bytes);
    let name = named(file_name);
    let mismatch = || FileError::ExtensionMismatch {
        name: file_name.to_string(),
        actual: content.label().to_string(),
    };
    let format = match (name, content) {
        (_, Content::Encrypted) => return Err(FileError::Encrypted),
        (Named::Text | Named::Unknown, Content::Text) => {
            if bytes.len() > MAX_FILE_BYTES {
                return Err(FileError::TooLarge {
                    bytes: bytes.len(),
                    max: MAX_FILE_BYTES,
                });
            }
            return read_users_file(bytes);
        }
        (Named::Xlsx | Named::Unknown, Content::Xlsx) => Encoding::Xlsx,
        (Named::Xlsm, Content::Xlsx) => Encoding::Xlsm,
        (Named::Xls | Named::Unknown, Content::Xls) => Encoding::Xls,
        (Named::Ods | Named::Unknown, Content::Ods) => Encoding::Ods,
        (Named::Unknown | Named::Text, Content::OtherContainer) => return Err(FileError::Binary),
        (Named::Xlsx | Named::Xlsm | Named::Xls | Named::Ods, Content::OtherContainer) => {
            return Err(FileError::NotAWorkbook {
                name: file_name.to_string(),
            })
        }
        _ => return Err(mismatch()),
    };
    let not_a_workbook = || FileError::NotAWorkbook {
        name: file_name.to_string(),
    };
    match format {
        Encoding::Xls => check_xls_extent(bytes, &not_a_workbook)?,
        Encoding::Ods => {
            check_zip(bytes, not_a_workbook)?;
            check_ods_extent(bytes, &not_a_workbook)?;
        }
        _ => check_zip(bytes, not_a_workbook)?,
    }
    let read = |sheet: Option<&str>| match format {
        Encoding::Xls => read_xls(bytes, sheet, not_a_workbook),
        Encoding::Ods => read_ods(bytes, sheet, not_a_workbook),
        _ => read_xlsx(format, bytes, sheet, not_a_workbook),
    };
    match read(sheet) {
        // No sheet chosen and the first one holds no user list (a cover sheet, notes): the
        // first of the other sheets that does; the preview shows which, and offers the rest.
        Err(
            first @ (FileError::EmptySheet { .. }
            | FileError::MissingColumns { .. }
            | FileError::Empty),
        ) if sheet.is_none() => {
            let names = match format {
                Encoding::Xls => sheet_names::<calamine::Xls<_>>(bytes),
                Encoding::Ods => sheet_names::<calamine::Ods<_>>(bytes),
                _ => sheet_names::<calamine::Xlsx<_>>(bytes),
            };
            names
                .iter()
                .skip(1)
                .find_map(|n| read(Some(n)).ok())
                .ok_or(first)
        }
        other => other,
    }
}

fn sheet_names<'a, R: calamine::Reader<Cursor<&'a [u8]>>>(bytes: &'a [u8]) -> Vec<String> {
    R::new(Cursor::new(bytes))
        .map(|b| b.sheet_names())
        .unwrap_or_default()
}

/// Inflates every entry into a counting sink, at most [`MAX_EXPANDED_BYTES`] in all: a ZIP
/// bomb is refused before anything is kept in memory.
fn check_zip(bytes: &[u8], broken: impl Fn() -> FileError) -> Result<(), FileError> {
    let mut zip = zip9::ZipArchive::new(Cursor::new(bytes)).map_err(|_| broken())?;
    if zip.len() > MAX_ENTRIES {
        return Err(FileError::WorkbookTooLarge {
            what: format!("{} ZIP entries, at most {MAX_ENTRIES}", zip.len()),
        });
    }
    let mut total: u64 = 0;
    for i in 0..zip.len() {
        let entry = match zip.by_index(i) {
            Ok(e) => e,
            Err(zip9::result::ZipError::UnsupportedArchive(m)) if m.contains("assword") => {
                return Err(FileError::Encrypted)
            }
            Err(_) => return Err(broken()),
        };
        if entry.encrypted() {
            return Err(FileError::Encrypted);
        }
        let left = MAX_EXPANDED_BYTES - total;
        let read =
            std::io::copy(&mut entry.take(left + 1), &mut std::io::sink()).map_err(|_| broken())?;
        total += read;
        if total > MAX_EXPANDED_BYTES {
            return Err(FileError::WorkbookTooLarge {
                what: format!(
                    "more than {} MiB when unpacked",
                    MAX_EXPANDED_BYTES / 1024 / 1024
                ),
            });
        }
    }
    Ok(())
}

/// The sheet asked for, or the first; with every sheet's name.
fn choose(all: Vec<String>, sheet: Option<&str>) -> Result<SheetChoice, FileError> {
    let name = match sheet.map(str::trim).filter(|s| !s.is_empty()) {
        Some(s) => all
            .iter()
            .find(|n| n.as_str() == s)
            .cloned()
            .ok_or_else(|| FileError::SheetNotFound {
                sheet: s.to_string(),
                sheets: all.clone(),
            })?,
        None => all.first().cloned().ok_or(FileError::EmptySheet {
            sheet: String::new(),
            others: Vec::new(),
        })?,
    };
    Ok(SheetChoice { name, all })
}

/// Rows being collected: at most [`MAX_DATA_ROWS`] + [`SPARE_ROWS`] non-blank rows are kept;
/// the rest are only counted.
#[derive(Default)]
struct Rows {
    kept: Vec<SheetRow>,
    non_blank: usize,
}

impl Rows {
    fn push(&mut self, row: u32, cells: Vec<SheetCell>) {
        if cells.iter().all(|c| match c {
            SheetCell::Empty => true,
            SheetCell::Text(s) => s.trim().is_empty(),
            _ => false,
        }) {
            return;
        }
        self.non_blank += 1;
        if self.kept.len() < MAX_DATA_ROWS + SPARE_ROWS {
            self.kept.push(SheetRow { row, cells });
        }
    }

    fn finish(
        self,
        format: Encoding,
        sheet: SheetChoice,
        merged: &[CellRange],
    ) -> Result<ParsedFile, FileError> {
        if self.non_blank > self.kept.len() {
            // Far beyond the limit: the header is one of the rows, the rest are data.
            return Err(FileError::TooManyRows {
                rows: self.non_blank - 1,
                max: MAX_DATA_ROWS,
            });
        }
        read_users_sheet(format, sheet, self.kept, merged)
    }
}

fn merged_ranges(dims: &[calamine::Dimensions]) -> Vec<CellRange> {
    dims.iter()
        .map(|d| CellRange {
            first_row: d.start.0 + 1,
            first_column: d.start.1 + 1,
            last_row: d.end.0 + 1,
            last_column: d.end.1 + 1,
        })
        .collect()
}

fn read_xlsx(
    format: Encoding,
    bytes: &[u8],
    sheet: Option<&str>,
    broken: impl Fn() -> FileError,
) -> Result<ParsedFile, FileError> {
    use calamine::Reader;
    let mut book: calamine::Xlsx<_> =
        calamine::Xlsx::new(Cursor::new(bytes)).map_err(|e| match e {
            calamine::XlsxError::Password => FileError::Encrypted,
            _ => broken(),
        })?;
    let choice = choose(book.sheet_names(), sheet)?;
    let merged = book
        .merge_cells_by_sheet_name(&choice.name)
        .map(|d| merged_ranges(&d))
        .unwrap_or_default();
    // Cells one by one: a sheet's extent (a stray cell at XFD1048576) never becomes a grid.
    let mut rows = Rows::default();
    let mut reader = book
        .worksheet_cells_reader(&choice.name)
        .map_err(|_| broken())?;
    let mut current: Option<(u32, Vec<SheetCell>)> = None;
    while let Some(cell) = reader.next_cell().map_err(|_| broken())? {
        let (r, c) = cell.get_position();
        let value = from_data_ref(cell.get_value());
        if c >= MAX_COLUMNS || value == SheetCell::Empty {
            continue;
        }
        let row = r + 1;
        if current.as_ref().is_some_and(|(n, _)| *n != row) {
            if let Some((n, cells)) = current.take() {
                rows.push(n, cells);
            }
        }
        let cells = &mut current.get_or_insert_with(|| (row, Vec::new())).1;
        let c = c as usize;
        if cells.len() <= c {
            cells.resize(c + 1, SheetCell::Empty);
        }
        cells[c] = value;
    }
    if let Some((n, cells)) = current.take() {
        rows.push(n, cells);
    }
    // Cells come in row order in every file Excel writes; others are sorted by the reader.
    rows.finish(format, choice, &merged)
}

fn read_ods(
    bytes: &[u8],
    sheet: Option<&str>,
    broken: impl Fn() -> FileError,
) -> Result<ParsedFile, FileError> {
    use calamine::Reader;
    let mut book: calamine::Ods<_> =
        calamine::Ods::new(Cursor::new(bytes)).map_err(|e| match e {
            calamine::OdsError::Password => FileError::Encrypted,
            _ => broken(),
        })?;
    let choice = choose(book.sheet_names(), sheet)?;
    let range = book.worksheet_range(&choice.name).map_err(|_| broken())?;
    range_rows(Encoding::Ods, &range, choice, &[])
}

fn read_xls(
    bytes: &[u8],
    sheet: Option<&str>,
    broken: impl Fn() -> FileError,
) -> Result<ParsedFile, FileError> {
    use calamine::Reader;
    let mut book: calamine::Xls<_> =
        calamine::Xls::new(Cursor::new(bytes)).map_err(|e| match e {
            calamine::XlsError::Password => FileError::Encrypted,
            _ => broken(),
        })?;
    let choice = choose(book.sheet_names(), sheet)?;
    let merged = book
        .merge_cells_by_sheet_name(&choice.name)
        .map(|d| merged_ranges(&d))
        .unwrap_or_default();
    let range = book.worksheet_range(&choice.name).map_err(|_| broken())?;
    range_rows(Encoding::Xls, &range, choice, &merged)
}

fn range_rows(
    format: Encoding,
    range: &calamine::Range<calamine::Data>,
    choice: SheetChoice,
    merged: &[CellRange],
) -> Result<ParsedFile, FileError> {
    let mut rows = Rows::default();
    if let Some((top, left)) = range.start() {
        for (i, cells) in range.rows().enumerate() {
            let row = top + u32::try_from(i).unwrap_or(u32::MAX) + 1;
            let mut out = vec![SheetCell::Empty; left.min(MAX_COLUMNS) as usize];
            out.extend(
                cells
                    .iter()
                    .take(MAX_COLUMNS.saturating_sub(left) as usize)
                    .map(from_data),
            );
            rows.push(row, out);
        }
    }
    rows.finish(format, choice, merged)
}

/// An `.ods` sheet is laid out in full by calamine: refuse one whose non-empty rows and cells,
/// repeated as the file says, would span more than [`MAX_SHEET_CELLS`].
fn check_ods_extent(bytes: &[u8], broken: &impl Fn() -> FileError) -> Result<(), FileError> {
    let mut zip = zip9::ZipArchive::new(Cursor::new(bytes)).map_err(|_| broken())?;
    let mut xml = String::new();
    zip.by_name("content.xml")
        .map_err(|_| broken())?
        .take(MAX_EXPANDED_BYTES)
        .read_to_string(&mut xml)
        .map_err(|_| broken())?;
    let repeat = |element: &str, attribute: &str| -> u64 {
        let tag_end = element.find('>').unwrap_or(element.len());
        element[..tag_end]
            .split_once(attribute)
            .and_then(|(_, rest)| rest.strip_prefix("=\""))
            .and_then(|rest| rest.split('"').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(1)
    };
    let mut cells: u64 = 0;
    for row in xml.split("<table:table-row").skip(1) {
        let body = row.split("</table:table-row>").next().unwrap_or(row);
        let rows = repeat(body, "table:number-rows-repeated");
        let mut width: u64 = 0;
        let mut filled = false;
        for cell in body
            .split("<table:table-cell")
            .skip(1)
            .chain(body.split("<table:covered-table-cell").skip(1))
        {
            let tag_end = cell.find('>').unwrap_or(cell.len());
            let has_value = cell[..tag_end].contains("office:value-type")
                || cell
                    .split("</table:table-cell>")
                    .next()
                    .unwrap_or("")
                    .contains("<text:");
            if has_value {
                filled = true;
            }
            width = width.saturating_add(repeat(cell, "table:number-columns-repeated"));
        }
        if filled {
            cells = cells.saturating_add(rows.saturating_mul(width.min(16_384)));
        }
        if cells > MAX_SHEET_CELLS {
            return Err(FileError::WorkbookTooLarge {
                what: format!("more than {MAX_SHEET_CELLS} cells in a sheet"),
            });
        }
    }
    Ok(())
}

/// An `.xls` sheet is laid out in full by calamine from its cell records: refuse a workbook
/// whose sheets span more than [`MAX_SHEET_CELLS`] (rows × columns), or that is encrypted.
fn check_xls_extent(bytes: &[u8], broken: &impl Fn() -> FileError) -> Result<(), FileError> {
    let mut cfb = cfb::CompoundFile::open(Cursor::new(bytes)).map_err(|_| broken())?;
    let path = if cfb.is_stream("/Workbook") {
        "/Workbook"
    } else {
        "/Book"
    };
    let mut stream = Vec::new();
    cfb.open_stream(path)
        .map_err(|_| broken())?
        .take(MAX_EXPANDED_BYTES)
        .read_to_end(&mut stream)
        .map_err(|_| broken())?;
    let u16_at = |d: &[u8], i: usize| -> Option<u64> {
        d.get(i..i + 2)
            .map(|b| u64::from(u16::from_le_bytes([b[0], b[1]])))
    };
    let (mut max_row, mut max_col) = (0u64, 0u64);
    let mut at = 0;
    while at + 4 <= stream.len() {
        let kind = u16::from_le_bytes([stream[at], stream[at + 1]]);
        let len = usize::from(u16::from_le_bytes([stream[at + 2], stream[at + 3]]));
        let data = stream.get(at + 4..at + 4 + len).unwrap_or(&[]);
        at += 4 + len;
        match kind {
            // FILEPASS: the workbook is encrypted.
            0x002F => return Err(FileError::Encrypted),
            // BOF of a new substream: a new sheet.
            0x0809 => {
                max_row = 0;
                max_col = 0;
            }
            // FORMULA, MULRK, MULBLANK, RSTRING, LABELSST, BLANK, NUMBER, LABEL, BOOLERR, RK.
            0x0006 | 0x00BD | 0x00BE | 0x00D6 | 0x00FD | 0x0201 | 0x0203 | 0x0204 | 0x0205
            | 0x027E => {
                let (Some(row), Some(col)) = (u16_at(data, 0), u16_at(data, 2)) else {
                    continue;
                };
                let last_col = if matches!(kind, 0x00BD | 0x00BE) && data.len() >= 2 {
                    u16_at(data, data.len() - 2).unwrap_or(col)
                } else {
                    col
                };
                max_row = max_row.max(row);
                max_col = max_col.max(col).max(last_col);
                if (max_row + 1) * (max_col + 1) > MAX_SHEET_CELLS {
                    return Err(FileError::WorkbookTooLarge {
                        what: format!("more than {MAX_SHEET_CELLS} cells in a sheet"),
                    });
                }
            }
            _ => {}
        }
    }
    Ok(())
}

fn number(f: f64) -> String {
    if f.fract() == 0.0 && f.abs() < 1e15 {
        format!("{}", f as i64)
    } else {
        f.to_string()
    }
}

/// A date serial (days since 1899-12-30) as `YYYY-MM-DD` (and `hh:mm` when it has a time).
fn date(serial: f64) -> String {
    let days = serial.floor();
    let base = time::macros::date!(1899 - 12 - 30);
    let Some(day) = base.checked_add(time::Duration::days(days as i64)) else {
        return number(serial);
    };
    let minutes = ((serial - days) * 24.0 * 60.0).round() as i64;
    if minutes == 0 {
        day.to_string()
    } else {
        format!("{day} {:02}:{:02}", minutes / 60 % 24, minutes % 60)
    }
}

fn from_data(d: &calamine::Data) -> SheetCell {
    use calamine::Data;
    match d {
        Data::Empty => SheetCell::Empty,
        Data::String(s) => SheetCell::Text(s.clone()),
        Data::Int(i) => SheetCell::Number(i.to_string()),
        Data::Float(f) => SheetCell::Number(number(*f)),
        Data::Bool(b) => SheetCell::Bool(*b),
        Data::DateTime(t) => SheetCell::Date(date(t.as_f64())),
        Data::DateTimeIso(s) | Data::DurationIso(s) => SheetCell::Date(s.clone()),
        Data::Error(e) => SheetCell::Error(e.to_string()),
    }
}

fn from_data_ref(d: &calamine::DataRef<'_>) -> SheetCell {
    use calamine::DataRef;
    match d {
        DataRef::Empty => SheetCell::Empty,
        DataRef::String(s) => SheetCell::Text(s.clone()),
        DataRef::SharedString(s) => SheetCell::Text((*s).to_string()),
        DataRef::Int(i) => SheetCell::Number(i.to_string()),
        DataRef::Float(f) => SheetCell::Number(number(*f)),
        DataRef::Bool(b) => SheetCell::Bool(*b),
        DataRef::DateTime(t) => SheetCell::Date(date(t.as_f64())),
        DataRef::DateTimeIso(s) | DataRef::DurationIso(s) => SheetCell::Date(s.clone()),
        DataRef::Error(e) => SheetCell::Error(e.to_string()),
    }
}
