use super::formula::{escape_formula, unescape_cell};
use super::*;
use crate::ids::{Email, LoginId, PersonName};
use crate::lang::Lang;
use crate::role::Role;
use serde::{Deserialize, Serialize};

const SAMPLE_UTF8: &[u8] = include_bytes!("../../../tests/fixtures/users-sample-utf8.csv");
const SAMPLE_SJIS: &[u8] = include_bytes!("../../../tests/fixtures/users-sample-sjis.csv");

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
        login_id: LoginId::parse(login_id).expect("a valid login ID"),
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
                r.role,
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
    assert_eq!(file.rows[0].name.as_str(), "山田, 太郎");
    assert_eq!(file.rows[0].role, Role::Admin);
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
    assert_eq!(file.rows[0].name.as_str(), "山田, \"太郎\"");
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
    assert_eq!(file.rows[0].email.as_str(), "a@example.co.jp");
    assert_eq!(file.rows[0].role, Role::General);
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
    // UTF-16 without its BOM has NUL bytes: not text.
    let utf16: Vec<u8> = "login_id"
        .encode_utf16()
        .flat_map(u16::to_le_bytes)
        .collect();
    assert_eq!(read_users_file(&utf16), Err(FileError::Binary));
    // With the BOM, a lone surrogate or an odd byte is not UTF-16 text.
    assert_eq!(
        read_users_file(&[0xFE, 0xFF, 0xD8, 0x00, 0x00, 0x41]),
        Err(FileError::UnknownEncoding)
    );
    assert_eq!(
        read_users_file(&[0xFF, 0xFE, 0x41]),
        Err(FileError::UnknownEncoding)
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
    let err = read_users_file("login_id,name,email,氏名,role\n".as_bytes()).expect_err("refused");
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
    let file = read("\r\nlogin_id,name,email,role\r\n\r\n , ,　, \r\nuser01,A,bad,admin\r\n\r\n");
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
            login_id: LoginId::parse("user01").expect("valid"),
            name: PersonName::parse("ガン").expect("valid"),
            email: Email::parse("a@example.co.jp").expect("valid"),
            role: Role::Admin,
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
    let plan = plan_import(&file, &existing, ImportMode::AddAndUpdate, 99, Role::Master);
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
    let plan = plan_import(&file, &existing, ImportMode::AddOnly, 99, Role::Master);
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
    let plan = plan_import(&file, &existing, ImportMode::AddAndUpdate, 99, Role::Master);
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
    let plan = plan_import(&file, &existing, ImportMode::AddAndUpdate, 99, Role::Master);
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
    let plan = plan_import(&file, &existing, ImportMode::AddAndUpdate, 99, Role::Master);
    assert!(plan.is_clean());
    assert_eq!(
        plan.rows[0].action,
        RowAction::Update {
            changed: vec!["name".into()]
        }
    );
    assert_eq!(plan.rows[0].login_id.as_str(), "master1");
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
            let plan = plan_import(&file, &existing, mode, 99, Role::Master);
            assert!(plan.is_clean(), "{encoding:?} {mode:?}");
            assert_eq!((plan.adds, plan.updates, plan.unchanged), (0, 0, 5));
        }
    }
    let text = String::from_utf8(write_users_csv(&rows, ExportEncoding::Utf8Bom).expect("written"))
        .expect("utf-8");
    assert!(text
        .starts_with("\u{feff}login_id,name,email,role,certificate_state,serial,expires_on\r\n"));
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
    for (name, character) in [("田中 😀", '😀'), ("𠮷田", '𠮷'), ("山田 ¥", '¥')] {
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
        read_users_file(&bytes).expect("read").rows[0].name.as_str(),
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
            .all(|r| r.email.as_str().ends_with("@example.co.jp")));
        let plan = plan_import(&file, &[], ImportMode::AddOnly, 99, Role::Master);
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

/// UTF-16 with BOM, as Excel's 「Unicode テキスト」 saves it (LE, tab-separated) and in BE with
/// commas: read exactly like the UTF-8 twin.
#[test]
fn utf16_text_reads_like_its_utf8_twin() {
    let utf8 = read_users_file(SAMPLE_UTF8).expect("UTF-8 sample");
    let text = std::str::from_utf8(SAMPLE_UTF8)
        .expect("UTF-8")
        .trim_start_matches('\u{feff}');
    // Commas outside quotes become tabs, as Excel saves the same sheet.
    let mut quoted = false;
    let tabbed: String = text
        .chars()
        .map(|c| {
            if c == '"' {
                quoted = !quoted;
            }
            if c == ',' && !quoted {
                '\t'
            } else {
                c
            }
        })
        .collect();
    let le: Vec<u8> = [0xFF, 0xFE]
        .into_iter()
        .chain(tabbed.encode_utf16().flat_map(u16::to_le_bytes))
        .collect();
    let be: Vec<u8> = [0xFE, 0xFF]
        .into_iter()
        .chain(text.encode_utf16().flat_map(u16::to_be_bytes))
        .collect();
    let le = read_users_file(&le).expect("UTF-16 LE");
    let be = read_users_file(&be).expect("UTF-16 BE");
    assert_eq!(
        (le.encoding, le.separator),
        (Encoding::Utf16Le, Separator::Tab)
    );
    assert_eq!(
        (be.encoding, be.separator),
        (Encoding::Utf16Be, Separator::Comma)
    );
    for f in [&le, &be] {
        assert_eq!(f.rows, utf8.rows);
        assert_eq!(f.problems, utf8.problems);
        assert_eq!(f.records, utf8.records);
    }
    assert!(!utf8.rows.is_empty());
}

/// Full-width login IDs and e-mails are folded (NFKC) and listed; names stay as typed.
#[test]
fn full_width_login_ids_and_emails_are_folded_and_listed() {
    let file = read(
        "login_id,name,email,role\r\n\
         ｋｏｂａｙａｓｈｉ０１,小林 一郎,kobayashi＠example.co.jp,一般\r\n\
         plain001,ＡＢＣ 花子,plain@example.co.jp,admin\r\n",
    );
    assert_eq!(file.problems, vec![]);
    assert_eq!(file.rows[0].login_id.as_str(), "kobayashi01");
    assert_eq!(file.rows[0].email.as_str(), "kobayashi@example.co.jp");
    assert_eq!(
        file.rows[1].name.as_str(),
        "ＡＢＣ 花子",
        "names are not folded"
    );
    let shown: Vec<(String, &str, &str)> = file
        .folded
        .iter()
        .map(|f| (f.cell(), f.original.as_str(), f.folded.as_str()))
        .collect();
    assert_eq!(
        shown,
        vec![
            ("A2".to_string(), "ｋｏｂａｙａｓｈｉ０１", "kobayashi01"),
            (
                "C2".to_string(),
                "kobayashi＠example.co.jp",
                "kobayashi@example.co.jp"
            ),
        ]
    );
    // A folded ID collides with its half-width twin as a duplicate.
    let twice = read("login_id,name,email,role\r\nabc123,A,a@example.co.jp,admin\r\nＡＢＣ１２３,B,b@example.co.jp,admin\r\n");
    assert_eq!(
        problems(&twice.problems),
        vec![(3, Some(1), CODE_DUPLICATE_LOGIN_ID)]
    );
}

#[test]
fn column_letters_and_cells_are_as_excel_names_them() {
    assert_eq!(column_letters(1), "A");
    assert_eq!(column_letters(26), "Z");
    assert_eq!(column_letters(27), "AA");
    assert_eq!(column_letters(16384), "XFD");
    assert_eq!(cell_name(2, 7), "B7");
    let file = read("login_id,name,email,role\r\nuser0001,A,bad,admin\r\n");
    assert_eq!(file.problems[0].cell().as_deref(), Some("C2"));
}

fn text(s: &str) -> SheetCell {
    SheetCell::Text(s.into())
}

fn sheet(name: &str, all: &[&str]) -> SheetChoice {
    SheetChoice {
        name: name.into(),
        all: all.iter().map(|s| s.to_string()).collect(),
    }
}

/// A sheet: a title row above the header, data not starting in column A, cells that are not
/// text in user columns (each named by its cell), a repeated header row.
#[test]
fn workbook_cells_are_read_with_excel_positions() {
    let rows = vec![
        SheetRow {
            row: 1,
            cells: vec![SheetCell::Empty, text("利用者一覧")],
        },
        SheetRow {
            row: 3,
            cells: vec![
                SheetCell::Empty,
                text("ログインID"),
                text("氏名"),
                text("メールアドレス"),
                text("権限"),
                text("備考"),
            ],
        },
        SheetRow {
            row: 4,
            cells: vec![
                SheetCell::Empty,
                text("000123"),
                text("山田 太郎"),
                text("taro@example.co.jp"),
                text("一般"),
                SheetCell::Number("5".into()),
            ],
        },
        SheetRow {
            row: 5,
            cells: vec![
                SheetCell::Empty,
                SheetCell::Number("123".into()),
                text("佐藤"),
                text("sato@example.co.jp"),
                text("admin"),
            ],
        },
        SheetRow {
            row: 6,
            cells: vec![
                SheetCell::Empty,
                text("user0006"),
                SheetCell::Date("2026-04-01".into()),
                SheetCell::Error("#N/A".into()),
                SheetCell::Bool(true),
            ],
        },
        SheetRow {
            row: 7,
            cells: vec![
                SheetCell::Empty,
                text("login_id"),
                text("name"),
                text("email"),
                text("role"),
            ],
        },
        SheetRow {
            row: 8,
            cells: vec![
                SheetCell::Empty,
                text("=cmd"),
                text("x"),
                text("x@example.co.jp"),
                text("admin"),
            ],
        },
    ];
    let file = read_users_sheet(
        Encoding::Xlsx,
        sheet("名簿", &["名簿", "Sheet2"]),
        rows,
        &[],
    )
    .expect("read");
    assert_eq!(file.rows.len(), 1);
    assert_eq!(file.rows[0].login_id.as_str(), "000123");
    assert_eq!(file.rows[0].row, 4);
    assert_eq!(file.ignored_columns, vec!["備考".to_string()]);
    assert_eq!(file.columns.login_id.column, 2);
    let got: Vec<(Option<String>, u32, &str)> = file
        .problems
        .iter()
        .map(|p| (p.cell(), p.row, p.code.as_str()))
        .collect();
    assert_eq!(
        got,
        vec![
            (Some("B5".into()), 5, CODE_NOT_TEXT),
            (Some("C6".into()), 6, CODE_DATE_CELL),
            (Some("D6".into()), 6, CODE_ERROR_VALUE),
            (Some("E6".into()), 6, CODE_NOT_TEXT),
            (None, 7, CODE_SECOND_HEADER),
            (Some("B8".into()), 8, "E-VAL-004"),
        ]
    );
    assert!(
        file.problems[0].message.ja.contains("名簿") && file.problems[0].message.en.contains("B5")
    );
    assert_eq!(file.last_row, 8);
}

#[test]
fn workbook_sheets_refuse_empty_sheets_and_merged_headers() {
    let empty = read_users_sheet(
        Encoding::Xlsx,
        sheet("Sheet1", &["Sheet1", "名簿"]),
        vec![],
        &[],
    );
    assert_eq!(
        empty,
        Err(FileError::EmptySheet {
            sheet: "Sheet1".into(),
            others: vec!["名簿".into()]
        })
    );
    let rows = vec![
        SheetRow {
            row: 1,
            cells: vec![
                text("login_id"),
                text("name"),
                SheetCell::Empty,
                text("email"),
                text("role"),
            ],
        },
        SheetRow {
            row: 2,
            cells: vec![
                text("user0001"),
                text("A"),
                SheetCell::Empty,
                text("a@example.co.jp"),
                text("admin"),
            ],
        },
    ];
    let merged = CellRange {
        first_row: 1,
        first_column: 2,
        last_row: 1,
        last_column: 3,
    };
    let refused = read_users_sheet(Encoding::Xlsx, sheet("S", &["S"]), rows.clone(), &[merged]);
    assert_eq!(
        refused,
        Err(FileError::MergedHeader {
            sheet: "S".into(),
            range: "B1:C1".into()
        })
    );
    assert_eq!(refused.expect_err("refused").code(), "E-CSV-026");
    // A merge elsewhere (data rows) is no concern of the header.
    let below = CellRange {
        first_row: 5,
        first_column: 1,
        last_row: 6,
        last_column: 1,
    };
    assert!(read_users_sheet(Encoding::Xlsx, sheet("S", &["S"]), rows, &[below]).is_ok());
}

#[test]
fn new_file_errors_have_codes_and_both_languages() {
    let errors = [
        (
            FileError::NotAWorkbook {
                name: "a.xlsx".into(),
            },
            "E-CSV-008",
        ),
        (FileError::Encrypted, "E-CSV-009"),
        (
            FileError::WorkbookTooLarge { what: "x".into() },
            "E-CSV-016",
        ),
        (
            FileError::SheetNotFound {
                sheet: "x".into(),
                sheets: vec!["y".into()],
            },
            "E-CSV-017",
        ),
        (
            FileError::EmptySheet {
                sheet: "x".into(),
                others: vec![],
            },
            "E-CSV-018",
        ),
        (
            FileError::ExtensionMismatch {
                name: "a.csv".into(),
                actual: "xlsx".into(),
            },
            "E-CSV-019",
        ),
        (
            FileError::MergedHeader {
                sheet: "x".into(),
                range: "A1:B1".into(),
            },
            "E-CSV-026",
        ),
    ];
    for (e, code) in errors {
        assert_eq!(e.code(), code);
        assert!(e.to_string().starts_with(code));
        let m = e.message();
        assert!(!m.ja.is_empty() && !m.en.is_empty());
    }
}
