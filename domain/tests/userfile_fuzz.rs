//! Random files for the users-file reader and planner: whatever the bytes, they answer without
//! panicking, and every problem points at a row that exists (row 2 or later, at most the
//! file's last row), with as many rows with problems as there are data rows at most.

use certdesk_domain::userfile::{
    plan_import, read_users_file, read_users_sheet, CellRange, Encoding, ExistingUser, ImportMode,
    ParsedFile, SheetCell, SheetChoice, SheetRow,
};
use certdesk_domain::{LoginId, Role};
use proptest::prelude::*;
use std::collections::BTreeSet;

/// Runs the reader and the planner and checks what they report.
fn check(bytes: &[u8], existing: &[ExistingUser], max_other_users: u32) {
    check_file(read_users_file(bytes), existing, max_other_users);
}

fn check_file(
    file: Result<ParsedFile, certdesk_domain::userfile::FileError>,
    existing: &[ExistingUser],
    max_other_users: u32,
) {
    let Ok(file) = file else {
        return;
    };
    check_rows(&file, &file.problems);
    assert!(file.rows.len() as u32 <= file.records);
    for mode in [ImportMode::AddOnly, ImportMode::AddAndUpdate] {
        let plan = plan_import(&file, existing, mode, max_other_users, Role::Master);
        check_rows(&file, &plan.problems);
        assert!(plan.problems.len() >= file.problems.len());
        assert_eq!(
            plan.adds + plan.updates + plan.unchanged,
            plan.rows.len() as u32
        );
        assert!(plan.rows.len() <= file.rows.len());
        assert_eq!(plan.is_clean(), plan.problems.is_empty());
    }
}

fn check_rows(file: &ParsedFile, problems: &[certdesk_domain::userfile::RowProblem]) {
    let mut rows = BTreeSet::new();
    for p in problems {
        assert!(p.row >= 2, "{p:?}");
        assert!(p.row <= file.last_row, "{p:?} beyond row {}", file.last_row);
        assert_eq!(p.column.is_some(), p.column_name.is_some(), "{p:?}");
        assert!(!p.message.ja.is_empty() && !p.message.en.is_empty());
        rows.insert(p.row);
    }
    assert!(
        rows.len() as u32 <= file.records,
        "{} rows with problems",
        rows.len()
    );
    let sorted = problems
        .windows(2)
        .all(|w| (w[0].row, w[0].column.unwrap_or(0)) <= (w[1].row, w[1].column.unwrap_or(0)));
    assert!(sorted, "problems not sorted");
}

fn existing() -> Vec<ExistingUser> {
    let user = |id: &str, role| ExistingUser {
        login_id: LoginId::parse(id).expect("a valid login ID"),
        name: "山田 太郎".into(),
        email: "taro@example.co.jp".into(),
        role,
    };
    vec![
        user("master1", Role::Master),
        user("taro01", Role::Admin),
        user("hana01", Role::General),
    ]
}

/// Pieces of "almost CSV": separators, quotes, line breaks, letters, Japanese text, and
/// plausible values and whole rows.
const TOKENS: &[&str] = &[
    ",",
    ",",
    "\t",
    "\"",
    "\"\"",
    "\r",
    "\n",
    "\r\n",
    " ",
    "'",
    "'=",
    "=",
    "a",
    "Z",
    "q",
    "山田",
    "はなこ",
    "髙",
    "ｶﾅ",
    "一般",
    "管理者",
    "taro01",
    "TARO01",
    "hana01",
    "master1",
    "new001",
    "new002",
    "a@example.co.jp",
    "taro@example.co.jp",
    "admin",
    "general",
    "master",
    "\r\ntaro01,山田 太郎,taro@example.co.jp,admin",
    "\r\nhana01,山田 太郎,taro@example.co.jp,一般",
    "\nnew001,新人 一郎,new@example.co.jp,general",
    "\nnew002,\"新人, 二郎\",new2@example.co.jp,admin",
    "\nmaster1,山田 太郎,taro@example.co.jp,admin",
];

const HEADERS: &[&str] = &[
    "",
    "login_id,name,email,role\r\n",
    "\u{feff}login_id,name,email,role,certificate_state\r\n",
    "ログインID\t氏名\tメールアドレス\t権限\n",
    "role,email,name,login_id\n",
    "\n\nlogin_id,name,\"email\",role\r\n",
];

/// Bytes that are not UTF-8 (0xFF also not Shift_JIS; 0x81 is a Shift_JIS lead byte).
const RAW: &[u8] = &[0xFF, 0x81, 0x80, 0xFB, 0xFC, 0xEF];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
        check(&bytes, &existing(), 3);
    }

    #[test]
    fn almost_csv_never_panics_and_points_at_real_rows(
        head in prop::sample::select(HEADERS),
        body in prop::collection::vec(prop::sample::select(TOKENS), 0..60),
        encoding in 0u8..6,
        raw in prop::collection::vec((any::<usize>(), prop::sample::select(RAW)), 1..3),
        max in 0u32..5,
    ) {
        let text = format!("{head}{}", body.concat());
        let bytes = match encoding {
            // Shift_JIS (a BOM becomes a numeric reference, which is just more text).
            2 => encoding_rs::SHIFT_JIS.encode(&text).0.into_owned(),
            // UTF-16 with its BOM, little and big endian (「Unicode テキスト」).
            4 => [0xFF, 0xFE].into_iter().chain(text.encode_utf16().flat_map(u16::to_le_bytes)).collect(),
            5 => [0xFE, 0xFF].into_iter().chain(text.encode_utf16().flat_map(u16::to_be_bytes)).collect(),
            // Text with a few bytes that break the encoding.
            3 => {
                let mut bytes = text.into_bytes();
                for (at, byte) in raw {
                    bytes.insert(at % (bytes.len() + 1), byte);
                }
                bytes
            }
            _ => text.into_bytes(),
        };
        check(&bytes, &existing(), max);
    }
}

/// A workbook cell made of the tokens above, or a value that is not text.
fn sheet_cell() -> impl Strategy<Value = SheetCell> {
    prop_oneof![
        Just(SheetCell::Empty),
        prop::collection::vec(prop::sample::select(TOKENS), 0..3)
            .prop_map(|t| SheetCell::Text(t.concat())),
        prop::sample::select(
            &[
                "login_id",
                "name",
                "email",
                "role",
                "ログインID",
                "氏名",
                "権限"
            ][..]
        )
        .prop_map(|t| SheetCell::Text(t.to_string())),
        any::<i32>().prop_map(|n| SheetCell::Number(n.to_string())),
        any::<bool>().prop_map(SheetCell::Bool),
        Just(SheetCell::Date("2026-04-01".into())),
        Just(SheetCell::Error("#N/A".into())),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    /// Sheets of random cells at random rows (as the backend decodes workbooks): no panic,
    /// every problem at a real row.
    #[test]
    fn random_sheets_never_panic_and_point_at_real_rows(
        rows in prop::collection::vec((1u32..40, prop::collection::vec(sheet_cell(), 0..7)), 0..30),
        merged in prop::collection::vec((1u32..5, 1u32..6, 0u32..2, 0u32..2), 0..2),
        max in 0u32..5,
    ) {
        let rows = rows.into_iter().map(|(row, cells)| SheetRow { row, cells }).collect();
        let merged: Vec<CellRange> = merged
            .into_iter()
            .map(|(r, c, h, w)| CellRange { first_row: r, first_column: c, last_row: r + h, last_column: c + w })
            .collect();
        let sheet = SheetChoice { name: "S".into(), all: vec!["S".into()] };
        check_file(read_users_sheet(Encoding::Xlsx, sheet, rows, &merged), &existing(), max);
    }
}
