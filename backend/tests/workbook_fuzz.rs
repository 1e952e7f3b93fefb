//! Random workbooks for the upload reader (issue 20): random bytes inside a ZIP container
//! with a workbook's entry names, a real `.xlsx` with bytes flipped or cut, and random bytes
//! behind an OLE header. Whatever the bytes, the reader answers (a file or a coded `E-CSV-*`
//! refusal) without panicking, in bounded time: every entry is inflated at most to
//! `MAX_EXPANDED_BYTES` before calamine sees it, and the proptest runs a fixed number of
//! small cases.

use certdesk_backend::read_users_upload;
use proptest::prelude::*;
use std::io::{Cursor, Write};
use std::time::{Duration, Instant};

const NAMES: &[&str] = &[
    "[Content_Types].xml",
    "_rels/.rels",
    "xl/workbook.xml",
    "xl/_rels/workbook.xml.rels",
    "xl/worksheets/sheet1.xml",
    "xl/sharedStrings.xml",
    "xl/styles.xml",
    "content.xml",
    "mimetype",
];

/// Pieces of a plausible workbook, so that random cases get past the first checks.
const XML: &[&str] = &[
    "<?xml version=\"1.0\"?>",
    "<workbook xmlns=\"http://schemas.openxmlformats.org/spreadsheetml/2006/main\" xmlns:r=\"http://schemas.openxmlformats.org/officeDocument/2006/relationships\"><sheets><sheet name=\"S\" sheetId=\"1\" r:id=\"rId1\"/></sheets></workbook>",
    "<Relationships xmlns=\"http://schemas.openxmlformats.org/package/2006/relationships\"><Relationship Id=\"rId1\" Type=\"http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet\" Target=\"worksheets/sheet1.xml\"/></Relationships>",
    "<worksheet><sheetData><row r=\"1\"><c r=\"A1\" t=\"inlineStr\"><is><t>login_id</t></is></c>",
    "<c r=\"XFD1048576\" t=\"n\"><v>1</v></c>",
    "<c r=\"B2\" t=\"e\"><v>#N/A</v></c>",
    "<c r=\"A2\" t=\"s\"><v>999999</v></c>",
    "</row></sheetData></worksheet>",
    "<mergeCells><mergeCell ref=\"A1:B1\"/></mergeCells>",
    "application/vnd.oasis.opendocument.spreadsheet",
    "<table:table-row table:number-rows-repeated=\"1048576\"><table:table-cell office:value-type=\"string\" table:number-columns-repeated=\"16384\"><text:p>x</text:p></table:table-cell></table:table-row>",
    "<",
    "&amp;",
    "\u{0}",
];

fn zip_of(entries: &[(String, Vec<u8>)], deflate: bool) -> Vec<u8> {
    let mut out = zip9::ZipWriter::new(Cursor::new(Vec::new()));
    let method = if deflate {
        zip9::CompressionMethod::Deflated
    } else {
        zip9::CompressionMethod::Stored
    };
    let options = zip9::write::SimpleFileOptions::default().compression_method(method);
    for (name, bytes) in entries {
        if out.start_file(name.as_str(), options).is_err() {
            continue;
        }
        let _ = out.write_all(bytes);
    }
    out.finish().map(Cursor::into_inner).unwrap_or_default()
}

fn check(name: &str, bytes: &[u8]) {
    let start = Instant::now();
    match read_users_upload(name, bytes, None) {
        Ok(file) => assert!(file.records as usize <= 1000),
        Err(e) => {
            assert!(e.code().starts_with("E-CSV-"), "{e:?}");
            let m = e.message();
            assert!(!m.ja.is_empty() && !m.en.is_empty());
        }
    }
    assert!(
        start.elapsed() < Duration::from_secs(20),
        "{name}: {:?}",
        start.elapsed()
    );
}

/// A small valid workbook, for the flip and cut cases.
fn valid_xlsx() -> Vec<u8> {
    let mut book = rust_xlsxwriter::Workbook::new();
    let ws = book.add_worksheet();
    for (r, row) in [
        ["login_id", "name", "email", "role"],
        ["user0001", "山田 太郎", "a@example.co.jp", "admin"],
        ["ｕｓｅｒ０００２", "B", "b＠example.co.jp", "general"],
    ]
    .iter()
    .enumerate()
    {
        for (c, v) in row.iter().enumerate() {
            ws.write_string(r as u32, c as u16, *v).expect("write");
        }
    }
    book.save_to_buffer().expect("xlsx")
}

#[test]
fn the_valid_workbook_reads() {
    let file = read_users_upload("ok.xlsx", &valid_xlsx(), None).expect("reads");
    assert_eq!(file.rows.len(), 2);
    assert_eq!(file.folded.len(), 2);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn random_entries_in_a_zip_never_panic(
        entries in prop::collection::vec(
            (prop::sample::select(NAMES), prop::collection::vec(prop::sample::select(XML), 0..8), prop::collection::vec(any::<u8>(), 0..64)),
            0..7,
        ),
        deflate in any::<bool>(),
        ext in prop::sample::select(&["xlsx", "xlsm", "ods", "xls", "csv", "bin"][..]),
    ) {
        let entries: Vec<(String, Vec<u8>)> = entries
            .into_iter()
            .map(|(name, xml, raw)| {
                let mut bytes = xml.concat().into_bytes();
                bytes.extend(raw);
                (name.to_string(), bytes)
            })
            .collect();
        check(&format!("f.{ext}"), &zip_of(&entries, deflate));
    }

    #[test]
    fn a_workbook_flipped_or_cut_never_panics(
        flips in prop::collection::vec((any::<usize>(), any::<u8>()), 0..8),
        cut in any::<usize>(),
        cut_it in any::<bool>(),
    ) {
        let mut bytes = valid_xlsx();
        for (at, b) in flips {
            let n = bytes.len();
            bytes[at % n] = b;
        }
        if cut_it {
            bytes.truncate(cut % (bytes.len() + 1));
        }
        check("f.xlsx", &bytes);
    }

    #[test]
    fn random_bytes_behind_an_ole_header_never_panic(
        raw in prop::collection::vec(any::<u8>(), 0..3000),
    ) {
        let mut bytes = vec![0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1];
        bytes.extend(raw);
        check("f.xls", &bytes);
    }
}
