//! Issue 20 over real HTTP: workbooks (made here with rust_xlsxwriter, and by Python's
//! openpyxl as a third-party producer), UTF-16 text, full-width input, the `.xlsx` exports,
//! and every bad workbook refused with its code and nothing written.

use certdesk_tests::{spawn_app, TestApp};
use rust_xlsxwriter::Workbook;
use std::io::{Cursor, Read, Write};

const UTF8_SAMPLE: &[u8] = include_bytes!("../fixtures/users-sample-utf8.csv");

async fn master_app() -> TestApp {
    let app = spawn_app().await;
    assert_eq!(app.set_up().await.status(), 200);
    app
}

fn users(app: &TestApp) -> i64 {
    app.database()
        .query_row("SELECT count(*) FROM users", [], |r| r.get(0))
        .expect("count")
}

/// Posts a users file as the page does; `sheet` as the preview's choice; `commit` with the
/// preview's hash and counts.
async fn import(
    app: &TestApp,
    name: &str,
    bytes: &[u8],
    sheet: Option<&str>,
    commit: Option<&serde_json::Value>,
) -> reqwest::Response {
    let part = reqwest::multipart::Part::bytes(bytes.to_vec()).file_name(name.to_string());
    let mut form = reqwest::multipart::Form::new()
        .part("file", part)
        .text("mode", "add_only")
        .text("sheet", sheet.unwrap_or_default().to_string());
    match commit {
        Some(preview) => {
            form = form.text("commit", "1").text(
                "sha256",
                preview["sha256"].as_str().expect("sha").to_string(),
            );
            for key in ["adds", "updates", "unchanged"] {
                form = form.text(key, preview["plan"][key].to_string());
            }
        }
        None => form = form.text("commit", "0"),
    }
    app.client
        .post(format!("{}/api/import_users", app.base))
        .header("origin", &app.base)
        .multipart(form)
        .send()
        .await
        .expect("request")
}

async fn preview(
    app: &TestApp,
    name: &str,
    bytes: &[u8],
    sheet: Option<&str>,
) -> serde_json::Value {
    let r = import(app, name, bytes, sheet, None).await;
    assert_eq!(r.status(), 200, "{name}");
    r.json().await.expect("json")
}

async fn refused(
    app: &TestApp,
    name: &str,
    bytes: &[u8],
    sheet: Option<&str>,
) -> (u16, String, String) {
    let r = import(app, name, bytes, sheet, None).await;
    let status = r.status().as_u16();
    let body: serde_json::Value = r.json().await.expect("json error");
    let text = body.to_string();
    (
        status,
        body["code"].as_str().unwrap_or_default().to_string(),
        text,
    )
}

/// A workbook with a cover sheet first and the user list on 「名簿」: a title row, the header
/// on row 3, a login ID typed in full-width, one with leading zeros (text), a full-width `＠`.
fn staff_workbook() -> Vec<u8> {
    let mut book = Workbook::new();
    let cover = book.add_worksheet();
    cover.set_name("表紙").expect("name");
    cover
        .write_string(0, 0, "2026年度 職員名簿")
        .expect("write");
    let ws = book.add_worksheet();
    ws.set_name("名簿").expect("name");
    ws.write_string(0, 0, "職員一覧").expect("write");
    for (c, h) in ["ログインID", "氏名", "メールアドレス", "権限", "備考"]
        .iter()
        .enumerate()
    {
        ws.write_string(2, c as u16, *h).expect("write");
    }
    let rows = [
        [
            "ｋｏｂａｙａｓｈｉ０１",
            "小林 一郎",
            "kobayashi＠example.co.jp",
            "一般",
            "=SUM(1,2)",
        ],
        [
            "000123",
            "髙橋 ゆう",
            "yu.takahashi@example.co.jp",
            "管理者",
            "",
        ],
        [
            "sato_hanako",
            "佐藤 花子",
            "hanako.sato@example.co.jp",
            "general",
            "",
        ],
    ];
    for (r, row) in rows.iter().enumerate() {
        for (c, v) in row.iter().enumerate() {
            if !v.is_empty() {
                ws.write_string(3 + r as u32, c as u16, *v).expect("write");
            }
        }
    }
    book.save_to_buffer().expect("xlsx")
}

#[tokio::test]
async fn a_workbook_imports_from_the_chosen_sheet_with_folded_values_shown() {
    let app = master_app().await;
    let book = staff_workbook();

    // The first sheet is a cover without a user list: read as chosen, it is refused; with no
    // choice, the preview reads the first sheet that holds the list and offers the others.
    let (status, code, text) = refused(&app, "職員.xlsx", &book, Some("表紙")).await;
    assert_eq!((status, code.as_str()), (422, "E-CSV-005"), "{text}");
    let first = preview(&app, "職員.xlsx", &book, None).await;
    assert_eq!(first["sheet"]["name"], "名簿");
    let (status, code, text) = refused(&app, "職員.xlsx", &book, Some("ない")).await;
    assert_eq!((status, code.as_str()), (422, "E-CSV-017"), "{text}");
    assert!(text.contains("名簿"), "{text}");

    let p = preview(&app, "職員.xlsx", &book, Some("名簿")).await;
    assert_eq!(p["encoding"], "Xlsx");
    assert_eq!(p["separator"], "Cells");
    assert_eq!(p["sheet"]["name"], "名簿");
    assert_eq!(p["sheet"]["all"], serde_json::json!(["表紙", "名簿"]));
    assert_eq!(p["plan"]["problems"], serde_json::json!([]));
    assert_eq!(p["plan"]["adds"], 3);
    let folded: Vec<(String, String, u64)> = p["folded"]
        .as_array()
        .expect("folded")
        .iter()
        .map(|f| {
            (
                f["original"].as_str().unwrap_or_default().to_string(),
                f["folded"].as_str().unwrap_or_default().to_string(),
                f["column"].as_u64().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        folded,
        vec![
            ("ｋｏｂａｙａｓｈｉ０１".into(), "kobayashi01".into(), 1),
            (
                "kobayashi＠example.co.jp".into(),
                "kobayashi@example.co.jp".into(),
                3
            ),
        ]
    );
    assert_eq!(users(&app), 1, "a preview writes nothing");

    let r = import(&app, "職員.xlsx", &book, Some("名簿"), Some(&p)).await;
    assert_eq!(r.status(), 200);
    let done: serde_json::Value = r.json().await.expect("json");
    assert_eq!(done["committed"], true);
    let stored: Vec<(String, String)> = {
        let db = app.database();
        let mut stmt = db
            .prepare("SELECT login_id, email FROM users WHERE role != 'master' ORDER BY login_id")
            .expect("prepare");
        let rows = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .expect("query")
            .collect::<Result<Vec<_>, _>>()
            .expect("rows");
        rows
    };
    assert_eq!(
        stored,
        vec![
            ("000123".into(), "yu.takahashi@example.co.jp".into()),
            ("kobayashi01".into(), "kobayashi@example.co.jp".into()),
            ("sato_hanako".into(), "hanako.sato@example.co.jp".into()),
        ],
        "the folded values are recorded; 000123 keeps its zeros"
    );
}

/// The sheet XML of an `.xlsx`'s first worksheet.
fn first_sheet_xml(xlsx: &[u8]) -> String {
    let mut zip = zip9::ZipArchive::new(Cursor::new(xlsx)).expect("zip");
    let mut xml = String::new();
    zip.by_name("xl/worksheets/sheet1.xml")
        .expect("sheet1")
        .read_to_string(&mut xml)
        .expect("xml");
    xml
}

#[tokio::test]
async fn the_xlsx_export_is_text_with_a_frozen_filtered_header_and_reimports_to_no_change() {
    let app = master_app().await;
    // A name that a spreadsheet would run as a formula, and Japanese names.
    let csv = "login_id,name,email,role\r\nformula1,=HYPERLINK(\"x\"),f@example.co.jp,general\r\n\
               yamada01,山田 太郎,taro@example.co.jp,admin\r\n";
    let p = preview(&app, "u.csv", csv.as_bytes(), None).await;
    let r = import(&app, "u.csv", csv.as_bytes(), None, Some(&p)).await;
    assert_eq!(r.status(), 200);

    let r = app
        .client
        .get(format!("{}/users/export.xlsx", app.base))
        .send()
        .await
        .expect("export");
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()["content-type"],
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    );
    let xlsx = r.bytes().await.expect("bytes").to_vec();
    let xml = first_sheet_xml(&xlsx);
    assert!(
        !xml.contains("<f>") && !xml.contains("<f "),
        "no formula: {xml}"
    );
    assert!(
        xml.contains("ySplit=\"1\"") && xml.contains("state=\"frozen\""),
        "frozen header"
    );
    assert!(xml.contains("<autoFilter ref=\"A1:G"), "filtered header");
    assert!(xml.contains("<col "), "column widths");
    let mut strings = String::new();
    zip9::ZipArchive::new(Cursor::new(&xlsx[..]))
        .expect("zip")
        .by_name("xl/sharedStrings.xml")
        .expect("strings")
        .read_to_string(&mut strings)
        .expect("xml");
    assert!(
        strings.contains(">=HYPERLINK(\"x\")<") || strings.contains(">=HYPERLINK(&quot;x&quot;)<"),
        "the value as text, no ' added: {strings}"
    );

    let again = preview(&app, "certdesk-users.xlsx", &xlsx, None).await;
    assert_eq!(again["plan"]["problems"], serde_json::json!([]));
    assert_eq!(
        (
            again["plan"]["adds"].as_u64(),
            again["plan"]["updates"].as_u64(),
            again["plan"]["unchanged"].as_u64()
        ),
        (Some(0), Some(0), Some(3)),
        "the export re-imports to no change"
    );

    // The bulk result as .xlsx: an unknown run is refused with its code, as the CSV is.
    let r = app
        .client
        .get(format!("{}/bulk/999/result.xlsx", app.base))
        .send()
        .await
        .expect("bulk");
    assert_eq!(r.status(), 404);
}

#[tokio::test]
async fn a_utf16_file_imports_like_its_utf8_twin() {
    let app = master_app().await;
    let text = std::str::from_utf8(UTF8_SAMPLE)
        .expect("utf8")
        .trim_start_matches('\u{feff}');
    let le: Vec<u8> = [0xFF, 0xFE]
        .into_iter()
        .chain(text.encode_utf16().flat_map(u16::to_le_bytes))
        .collect();
    let utf8 = preview(&app, "u.csv", UTF8_SAMPLE, None).await;
    let utf16 = preview(&app, "u.txt", &le, None).await;
    assert_eq!(utf16["encoding"], "Utf16Le");
    assert_eq!(utf16["plan"], utf8["plan"]);
    let r = import(&app, "u.txt", &le, None, Some(&utf16)).await;
    assert_eq!(r.status(), 200);
    let again = preview(&app, "u.csv", UTF8_SAMPLE, None).await;
    assert_eq!(again["plan"]["adds"], 0, "the UTF-8 twin is now unchanged");
}

/// A ZIP with `entries` (name, bytes), deflated.
fn zip_of(entries: &[(&str, Vec<u8>)]) -> Vec<u8> {
    let mut out = zip9::ZipWriter::new(Cursor::new(Vec::new()));
    let options = zip9::write::SimpleFileOptions::default()
        .compression_method(zip9::CompressionMethod::Deflated)
        .large_file(true);
    for (name, bytes) in entries {
        out.start_file(*name, options).expect("entry");
        out.write_all(bytes).expect("write");
    }
    out.finish().expect("zip").into_inner()
}

#[tokio::test]
async fn bad_workbooks_are_refused_with_their_codes_and_nothing_is_written() {
    let app = master_app().await;
    let before = users(&app);
    let good = staff_workbook();

    // A ZIP bomb: 200 MiB of one sheet deflates to a few hundred KiB.
    let bomb = zip_of(&[
        ("xl/workbook.xml", b"<workbook/>".to_vec()),
        ("xl/worksheets/sheet1.xml", vec![b' '; 200 * 1024 * 1024]),
    ]);
    assert!(bomb.len() < 1024 * 1024, "{} bytes", bomb.len());
    // A password-protected workbook: Excel keeps it in an OLE file as EncryptedPackage.
    let encrypted = {
        let mut cfb = cfb::CompoundFile::create(Cursor::new(Vec::new())).expect("cfb");
        cfb.create_stream("/EncryptionInfo")
            .expect("stream")
            .write_all(&[4, 0, 4, 0, 0x40, 0, 0, 0])
            .expect("write");
        cfb.create_stream("/EncryptedPackage")
            .expect("stream")
            .write_all(&[7; 4096])
            .expect("write");
        cfb.flush().expect("flush");
        cfb.into_inner().into_inner()
    };
    // A ZIP that is not a workbook, a workbook named .csv, a CSV named .xlsx, broken XML.
    let other_zip = zip_of(&[("readme.txt", b"hello".to_vec())]);
    let broken = zip_of(&[
        (
            "xl/workbook.xml",
            b"<workbook><sheets><sheet name=".to_vec(),
        ),
        ("[Content_Types].xml", b"<".to_vec()),
    ]);
    let mut truncated = good.clone();
    truncated.truncate(good.len() / 2);
    let big = vec![b'P'; 5 * 1024 * 1024 + 1];
    let cases: Vec<(&str, Vec<u8>, u16, &str)> = vec![
        ("bomb.xlsx", bomb, 422, "E-CSV-016"),
        ("locked.xlsx", encrypted, 422, "E-CSV-009"),
        ("archive.xlsx", other_zip, 422, "E-CSV-008"),
        ("broken.xlsx", broken, 422, "E-CSV-008"),
        ("truncated.xlsx", truncated, 422, "E-CSV-008"),
        ("users.csv", good.clone(), 422, "E-CSV-019"),
        ("users.xls", good.clone(), 422, "E-CSV-019"),
        ("users.xlsx", UTF8_SAMPLE.to_vec(), 422, "E-CSV-019"),
        ("big.xlsx", big, 413, "E-CSV-001"),
    ];
    for (name, bytes, status, code) in cases {
        let (got_status, got_code, text) = refused(&app, name, &bytes, None).await;
        assert_eq!(
            (got_status, got_code.as_str()),
            (status, code),
            "{name}: {text}"
        );
        assert!(
            text.contains("\"ja\"") && text.contains("\"en\""),
            "{name}: {text}"
        );
    }
    assert_eq!(users(&app), before, "nothing written");
}

#[tokio::test]
async fn a_stray_cell_at_xfd1048576_is_not_laid_out_as_a_grid() {
    let app = master_app().await;
    let mut book = Workbook::new();
    let ws = book.add_worksheet();
    for (c, h) in ["login_id", "name", "email", "role"].iter().enumerate() {
        ws.write_string(0, c as u16, *h).expect("write");
    }
    for (c, v) in ["user0001", "一 太郎", "u1@example.co.jp", "general"]
        .iter()
        .enumerate()
    {
        ws.write_string(1, c as u16, *v).expect("write");
    }
    ws.write_string(1_048_575, 16_383, "far away")
        .expect("write");
    let bytes = book.save_to_buffer().expect("xlsx");
    let p = preview(&app, "far.xlsx", &bytes, None).await;
    assert_eq!(p["plan"]["adds"], 1);
    assert_eq!(p["plan"]["problems"], serde_json::json!([]));
}

/// Python's openpyxl (pinned, installed by scripts/lib.sh) as a third-party producer: numbers,
/// dates, error values and a merged header, each refused naming its sheet and cell.
#[tokio::test]
async fn an_openpyxl_workbook_names_each_bad_cell_as_excel_does() {
    let app = master_app().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("openpyxl.xlsx");
    let merged_path = dir.path().join("merged.xlsx");
    let script = r##"
import datetime, sys, openpyxl
wb = openpyxl.Workbook()
ws = wb.active
ws.title = "名簿"
ws.append(["login_id", "name", "email", "role"])
ws.append(["user0001", "一 太郎", "u1@example.co.jp", "general"])
ws.append([123, "二 花子", "u2@example.co.jp", "general"])
ws.append(["user0003", datetime.date(2026, 4, 1), "u3@example.co.jp", "general"])
ws.append(["user0004", "四 三郎", "#N/A", "general"])
ws.append(["ｕｓｅｒ０００５", "五 五郎", "u5＠example.co.jp", "admin"])
wb.save(sys.argv[1])
wb = openpyxl.Workbook()
ws = wb.active
ws.append(["login_id", "name", None, "email", "role"])
ws.merge_cells("B1:C1")
ws.append(["user0001", "一 太郎", None, "u1@example.co.jp", "general"])
wb.save(sys.argv[2])
"##;
    let out = std::process::Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(&path)
        .arg(&merged_path)
        .output()
        .expect("python3 runs (scripts/lib.sh installs openpyxl)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bytes = std::fs::read(&path).expect("read");
    let p = preview(&app, "openpyxl.xlsx", &bytes, None).await;
    let problems: Vec<(String, String)> = p["plan"]["problems"]
        .as_array()
        .expect("problems")
        .iter()
        .map(|x| {
            let column = x["column"].as_u64().unwrap_or(0) as u32;
            let cell = format!(
                "{}{}",
                certdesk_domain::userfile::column_letters(column),
                x["row"]
            );
            (cell, x["code"].as_str().unwrap_or_default().to_string())
        })
        .collect();
    assert_eq!(
        problems,
        vec![
            ("A3".to_string(), "E-CSV-022".to_string()),
            ("B4".to_string(), "E-CSV-023".to_string()),
            ("C5".to_string(), "E-CSV-024".to_string()),
        ]
    );
    let first = &p["plan"]["problems"][0]["message"];
    assert!(first["ja"]
        .as_str()
        .unwrap_or_default()
        .contains("シート「名簿」のセル A3"));
    assert!(first["en"]
        .as_str()
        .unwrap_or_default()
        .contains("Cell A3 of sheet '名簿'"));
    assert_eq!(p["folded"].as_array().map(Vec::len), Some(2));
    let r = import(&app, "openpyxl.xlsx", &bytes, None, Some(&p)).await;
    assert_eq!(r.status(), 422, "a file with problems is not written");
    assert_eq!(users(&app), 1);

    let merged = std::fs::read(&merged_path).expect("read");
    let (status, code, text) = refused(&app, "merged.xlsx", &merged, None).await;
    assert_eq!((status, code.as_str()), (422, "E-CSV-026"), "{text}");
    assert!(text.contains("B1:C1"), "{text}");
}
