//! The Users page's server functions and the CSV import/export over real HTTP, with a real
//! SQLite file: permissions, limits, all-or-nothing imports, both encodings.

use certdesk_backend::Actor;
use certdesk_backend::Operation;
use certdesk_domain::lifecycle::RevocationReason;
use certdesk_domain::OperationKind;
use certdesk_domain::Role;
use certdesk_tests::{client, error_code, spawn_app, TestApp, PASSWORD};

const SJIS_SAMPLE: &[u8] = include_bytes!("../fixtures/users-sample-sjis.csv");
const UTF8_SAMPLE: &[u8] = include_bytes!("../fixtures/users-sample-utf8.csv");

async fn master_app() -> TestApp {
    let app = spawn_app().await;
    assert_eq!(app.set_up().await.status(), 200);
    app
}

async fn list(app: &TestApp) -> Vec<serde_json::Value> {
    let r = app.post("users_list", &[]).await;
    assert_eq!(r.status(), 200);
    r.json().await.expect("json")
}

fn find<'a>(users: &'a [serde_json::Value], login: &str) -> Option<&'a serde_json::Value> {
    users.iter().find(|u| u["login_id"] == login)
}

async fn add(app: &TestApp, login: &str, name: &str, email: &str, role: &str) -> reqwest::Response {
    app.post(
        "add_user",
        &[
            ("login_id", login),
            ("name", name),
            ("email", email),
            ("role", role),
            ("password", ""),
            ("password_confirm", ""),
        ],
    )
    .await
}

/// Posts a users file as the page does (multipart); `commit` with the preview's hash.
async fn import(
    app: &TestApp,
    name: &str,
    bytes: &[u8],
    mode: &str,
    commit: Option<&serde_json::Value>,
) -> reqwest::Response {
    let part = reqwest::multipart::Part::bytes(bytes.to_vec())
        .file_name(name.to_string())
        .mime_str("text/csv")
        .expect("mime");
    let mut form = reqwest::multipart::Form::new()
        .part("file", part)
        .text("mode", mode.to_string());
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

async fn preview_ok(app: &TestApp, name: &str, bytes: &[u8], mode: &str) -> serde_json::Value {
    let r = import(app, name, bytes, mode, None).await;
    assert_eq!(r.status(), 200);
    r.json().await.expect("json")
}

async fn error_of(r: reqwest::Response) -> serde_json::Value {
    r.json().await.expect("json error")
}

#[tokio::test]
async fn users_are_added_edited_locked_and_deleted_with_every_refusal_named() {
    let app = master_app().await;
    assert_eq!(
        add(
            &app,
            "admin001",
            "鈴木 一郎",
            "ichiro@example.co.jp",
            "admin"
        )
        .await
        .status(),
        200
    );

    // A bad e-mail is reported on its field; a taken login ID regardless of case.
    let r = add(&app, "gen00001", "田中 花子", "hanako@", "general").await;
    assert_eq!(r.status(), 422);
    let e = error_of(r).await;
    assert_eq!(
        (e["code"].as_str(), e["field"].as_str()),
        (Some("E-VAL-006"), Some("email"))
    );
    let r = add(&app, "ADMIN001", "別人", "x@example.co.jp", "general").await;
    assert_eq!(r.status(), 409);
    let e = error_of(r).await;
    assert_eq!(
        (e["code"].as_str(), e["field"].as_str()),
        (Some("E-USER-003"), Some("login_id"))
    );
    let r = add(
        &app,
        "gen00001",
        "田中 花子",
        "hanako@example.co.jp",
        "owner",
    )
    .await;
    assert_eq!(error_code(r).await, "E-USER-005");

    // Names are stored as entered, in NFC (a decomposed ガ becomes one code point).
    assert_eq!(
        add(
            &app,
            "gen00001",
            "ナカカ\u{3099}ワ",
            "n@example.co.jp",
            "general"
        )
        .await
        .status(),
        200
    );
    let users = list(&app).await;
    assert_eq!(
        find(&users, "gen00001").expect("listed")["name"],
        "ナカガワ"
    );

    // Edit: name, e-mail and role.
    let id = find(&users, "gen00001").expect("listed")["user_id"].to_string();
    let r = app
        .post(
            "update_user",
            &[
                ("user_id", &id),
                ("name", "中川 次郎"),
                ("email", "jiro@example.co.jp"),
                ("role", "admin"),
            ],
        )
        .await;
    assert_eq!(r.status(), 200);
    let users = list(&app).await;
    let u = find(&users, "gen00001").expect("listed");
    assert_eq!(
        (u["name"].as_str(), u["role"].as_str()),
        (Some("中川 次郎"), Some("admin"))
    );

    // The last master can be neither demoted, locked nor deleted.
    let master_id = find(&users, "master01").expect("master")["user_id"].to_string();
    let r = app
        .post(
            "update_user",
            &[
                ("user_id", &master_id),
                ("name", "山田 太郎"),
                ("email", "taro@example.co.jp"),
                ("role", "admin"),
            ],
        )
        .await;
    assert_eq!(error_code(r).await, "E-USER-004");
    assert_eq!(
        error_code(app.post("lock_user", &[("login_id", "master01")]).await).await,
        "E-USER-004"
    );

    // Lock and unlock.
    assert_eq!(
        app.post("lock_user", &[("login_id", "gen00001")])
            .await
            .status(),
        200
    );
    assert_eq!(
        find(&list(&app).await, "gen00001").expect("listed")["locked"],
        true
    );
    assert_eq!(
        app.post("unlock_user", &[("login_id", "gen00001")])
            .await
            .status(),
        200
    );
    assert_eq!(
        find(&list(&app).await, "gen00001").expect("listed")["locked"],
        false
    );

    // A user with a valid certificate cannot be deleted; after revocation they can, and they
    // stay on record for the audit log.
    let gen_id: i64 = id.parse().expect("id");
    app.backend
        .apply_certificate_operation(gen_id, Operation::Issue, Actor::Cli)
        .await
        .expect("issue");
    let r = app.post("delete_user", &[("user_id", &id)]).await;
    assert_eq!(r.status(), 409);
    assert_eq!(error_code(r).await, "E-USER-008");
    app.backend
        .apply_certificate_operation(
            gen_id,
            Operation::new(
                OperationKind::parse("revoke").expect("op"),
                RevocationReason::parse("cessation_of_operation"),
            ),
            Actor::Cli,
        )
        .await
        .expect("revoke");
    assert_eq!(
        app.post("delete_user", &[("user_id", &id)]).await.status(),
        200
    );
    assert!(find(&list(&app).await, "gen00001").is_none());
    let audit = app.backend.audit_entries(50).await.expect("audit");
    assert!(audit
        .iter()
        .any(|a| a.action == "user_delete" && a.target.as_deref() == Some("gen00001")));
    // The login ID is free again.
    assert_eq!(
        add(
            &app,
            "GEN00001",
            "新しい 人",
            "new@example.co.jp",
            "general"
        )
        .await
        .status(),
        200
    );
}

#[tokio::test]
async fn an_admin_cannot_make_a_master_nor_touch_one() {
    let app = master_app().await;
    let r = app
        .post(
            "add_user",
            &[
                ("login_id", "admin001"),
                ("name", "鈴木 一郎"),
                ("email", "i@example.co.jp"),
                ("role", "admin"),
                ("password", PASSWORD),
                ("password_confirm", PASSWORD),
            ],
        )
        .await;
    assert_eq!(r.status(), 200);
    // A master may add another master.
    assert_eq!(
        add(
            &app,
            "master02",
            "第二 マスター",
            "m2@example.co.jp",
            "master"
        )
        .await
        .status(),
        200
    );

    let admin = client();
    let post = |function: &'static str, form: Vec<(&'static str, String)>| {
        let admin = admin.clone();
        let app = &app;
        async move {
            let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
            app.post_with(&admin, function, &form).await
        }
    };
    let s = |v: &str| v.to_string();
    let r = post(
        "sign_in",
        vec![("login_id", s("admin001")), ("password", s(PASSWORD))],
    )
    .await;
    assert_eq!(r.status(), 200);
    let new_user = |login: &str, role: &str| {
        vec![
            ("login_id", s(login)),
            ("name", s("一般 人")),
            ("email", s("g@example.co.jp")),
            ("role", s(role)),
            ("password", s("")),
            ("password_confirm", s("")),
        ]
    };
    assert_eq!(
        error_code(post("add_user", new_user("master03", "master")).await).await,
        "E-USER-005"
    );
    assert_eq!(
        post("add_user", new_user("gen00001", "general"))
            .await
            .status(),
        200
    );
    let users = list(&app).await;
    let gen_id = find(&users, "gen00001").expect("listed")["user_id"].to_string();
    let r = post(
        "update_user",
        vec![
            ("user_id", gen_id),
            ("name", s("一般 人")),
            ("email", s("g@example.co.jp")),
            ("role", s("master")),
        ],
    )
    .await;
    assert_eq!(error_code(r).await, "E-USER-005");
    let m2 = find(&users, "master02").expect("listed")["user_id"].to_string();
    assert_eq!(
        error_code(post("delete_user", vec![("user_id", m2)]).await).await,
        "E-AUTH-004"
    );
    assert_eq!(
        error_code(post("lock_user", vec![("login_id", s("master02"))]).await).await,
        "E-AUTH-004"
    );
}

#[tokio::test]
async fn the_hundredth_other_user_is_refused() {
    let app = master_app().await;
    for i in 0..99 {
        app.backend
            .create_user(
                &format!("user{i:04}"),
                "利用者",
                "u@example.co.jp",
                Role::General,
                Actor::Cli,
            )
            .await
            .expect("within the limit");
    }
    let r = add(&app, "user0099", "百人目", "u@example.co.jp", "general").await;
    assert_eq!(r.status(), 409);
    assert_eq!(error_code(r).await, "E-USER-002");
}

#[tokio::test]
async fn a_shift_jis_file_is_previewed_then_imported_once_and_the_second_import_changes_nothing() {
    let app = master_app().await;
    let preview = preview_ok(&app, "users-sjis.csv", SJIS_SAMPLE, "add_only").await;
    assert_eq!(preview["encoding"], "ShiftJis");
    assert_eq!(preview["committed"], false);
    assert_eq!(
        preview["plan"]["problems"]
            .as_array()
            .expect("problems")
            .len(),
        0
    );
    let adds = preview["plan"]["adds"].as_u64().expect("adds");
    assert_eq!(adds, 5);
    // Nothing was written by the preview.
    assert_eq!(list(&app).await.len(), 1);

    let r = import(
        &app,
        "users-sjis.csv",
        SJIS_SAMPLE,
        "add_only",
        Some(&preview),
    )
    .await;
    assert_eq!(r.status(), 200);
    let done: serde_json::Value = r.json().await.expect("json");
    assert_eq!(done["committed"], true);
    let users = list(&app).await;
    assert_eq!(users.len(), 6);
    let names: Vec<&str> = users.iter().filter_map(|u| u["name"].as_str()).collect();
    assert!(
        names.iter().any(|n| n.contains('髙')),
        "CP932-only kanji kept: {names:?}"
    );
    let audit = app.backend.audit_entries(50).await.expect("audit");
    let entry = audit
        .iter()
        .find(|a| a.action == "user_import")
        .expect("import audited");
    let detail: serde_json::Value = serde_json::from_str(&entry.detail).expect("json");
    assert_eq!(detail["sha256"], preview["sha256"]);
    assert_eq!(detail["added"], 5);

    // The same file again: every row unchanged; the UTF-8 file with the same content too.
    for (name, bytes) in [("again.csv", SJIS_SAMPLE), ("utf8.csv", UTF8_SAMPLE)] {
        let again = preview_ok(&app, name, bytes, "add_only").await;
        assert_eq!(
            (
                again["plan"]["adds"].as_u64(),
                again["plan"]["updates"].as_u64(),
                again["plan"]["unchanged"].as_u64()
            ),
            (Some(0), Some(0), Some(5)),
            "{name}"
        );
    }
    assert_eq!(list(&app).await, users);
}

#[tokio::test]
async fn a_file_with_a_problem_is_refused_whole_with_row_and_column() {
    let app = master_app().await;
    let file = "login_id,name,email,role\r\ngood0001,良い 人,good@example.co.jp,general\r\nbad00002,悪い 人,not-an-address,general\r\n";
    let preview = preview_ok(&app, "bad.csv", file.as_bytes(), "add_only").await;
    let problems = preview["plan"]["problems"].as_array().expect("problems");
    assert_eq!(problems.len(), 1);
    assert_eq!(
        (
            problems[0]["row"].as_u64(),
            problems[0]["column"].as_u64(),
            problems[0]["code"].as_str()
        ),
        (Some(3), Some(3), Some("E-VAL-006"))
    );
    assert_eq!(problems[0]["column_name"], "email");

    let r = import(&app, "bad.csv", file.as_bytes(), "add_only", Some(&preview)).await;
    assert_eq!(r.status(), 422);
    assert_eq!(error_code(r).await, "E-CSV-020");
    assert_eq!(
        list(&app).await.len(),
        1,
        "nothing written, not even the good row"
    );

    // A commit with another file than the one previewed is refused.
    let fixed = file.replace("not-an-address", "bad@example.co.jp");
    let r = import(
        &app,
        "bad.csv",
        fixed.as_bytes(),
        "add_only",
        Some(&preview),
    )
    .await;
    assert_eq!(r.status(), 409);
    assert_eq!(error_code(r).await, "E-CSV-021");
    let preview = preview_ok(&app, "fixed.csv", fixed.as_bytes(), "add_only").await;
    assert_eq!(
        import(
            &app,
            "fixed.csv",
            fixed.as_bytes(),
            "add_only",
            Some(&preview)
        )
        .await
        .status(),
        200
    );
    assert_eq!(list(&app).await.len(), 3);
}

#[tokio::test]
async fn whole_file_rejections_have_their_codes_and_write_nothing() {
    let app = master_app().await;
    let mut big = b"login_id,name,email,role\n".to_vec();
    big.resize(1024 * 1024 + 1, b'a');
    let cases: Vec<(&str, Vec<u8>, u16, &str)> = vec![
        ("big.csv", big, 413, "E-CSV-001"),
        (
            "binary.csv",
            vec![0x89, b'P', b'N', b'G', 0, 0, 0, 0x0d, 1, 2],
            422,
            "E-CSV-002",
        ),
        (
            "unknown.csv",
            vec![b'a', b',', 0x80, 0xff, 0xff, b'\n'],
            422,
            "E-CSV-003",
        ),
        ("empty.csv", Vec::new(), 422, "E-CSV-004"),
        (
            "columns.csv",
            b"login_id,name\nabc12345,x\n".to_vec(),
            422,
            "E-CSV-005",
        ),
    ];
    for (name, bytes, status, code) in cases {
        let r = import(&app, name, &bytes, "add_only", None).await;
        assert_eq!(r.status(), status, "{name}");
        let e = error_of(r).await;
        assert_eq!(e["code"], code, "{name}");
        assert_eq!(e["field"], "file", "{name}");
    }
    let mut many = String::from("login_id,name,email,role\n");
    for i in 0..1001 {
        many.push_str(&format!("user{i:04},名前,u{i}@example.co.jp,general\n"));
    }
    assert_eq!(
        error_code(import(&app, "many.csv", many.as_bytes(), "add_only", None).await).await,
        "E-CSV-007"
    );
    assert_eq!(list(&app).await.len(), 1);
}

#[tokio::test]
async fn the_export_escapes_formulas_opens_in_excel_and_reimports_to_no_change() {
    let app = master_app().await;
    assert_eq!(
        add(
            &app,
            "formula1",
            "=HYPERLINK(\"http://evil.example\",\"x\")",
            "f@example.co.jp",
            "general"
        )
        .await
        .status(),
        200
    );
    assert_eq!(
        add(&app, "-dash001", "髙橋 一郎", "t@example.co.jp", "admin")
            .await
            .status(),
        200
    );

    let r = app.get("/users/export.csv").await;
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-disposition"]
        .to_str()
        .expect("ascii")
        .contains("attachment"));
    let bytes = r.bytes().await.expect("body").to_vec();
    assert!(
        bytes.starts_with(&[0xef, 0xbb, 0xbf]),
        "UTF-8 with BOM for Excel"
    );
    let text = String::from_utf8(bytes[3..].to_vec()).expect("utf-8");
    assert!(text.contains("'=HYPERLINK("), "formula escaped: {text}");
    assert!(
        text.contains("'-dash001"),
        "a cell starting with '-' is escaped too: {text}"
    );
    assert!(!text.contains(",=HYPERLINK"), "{text}");

    for mode in ["add_only", "add_and_update"] {
        let again = preview_ok(&app, "export.csv", &bytes, mode).await;
        assert_eq!(
            again["plan"]["problems"].as_array().map(Vec::len),
            Some(0),
            "{again}"
        );
        assert_eq!(
            (
                again["plan"]["adds"].as_u64(),
                again["plan"]["updates"].as_u64(),
                again["plan"]["unchanged"].as_u64()
            ),
            (Some(0), Some(0), Some(3)),
            "{mode}"
        );
    }

    // Shift_JIS: 髙 is in CP932; an emoji is not, and the export says which user and column.
    let r = app.get("/users/export.csv?encoding=sjis").await;
    assert_eq!(r.status(), 200);
    let sjis = r.bytes().await.expect("body").to_vec();
    let (decoded, _, bad) = encoding_rs::SHIFT_JIS.decode(&sjis);
    assert!(!bad && decoded.contains("髙橋 一郎"), "{decoded}");
    let again = preview_ok(&app, "export-sjis.csv", &sjis, "add_only").await;
    assert_eq!(again["encoding"], "ShiftJis");
    assert_eq!(again["plan"]["unchanged"].as_u64(), Some(3));

    assert_eq!(
        add(&app, "emoji001", "絵文字 😀", "e@example.co.jp", "general")
            .await
            .status(),
        200
    );
    let r = app.get("/users/export.csv?encoding=sjis").await;
    assert_eq!(r.status(), 422);
    assert_eq!(error_code(r).await, "E-CSV-014");
}

#[tokio::test]
async fn exports_and_imports_need_a_session() {
    let app = master_app().await;
    assert_eq!(app.post("sign_out", &[]).await.status(), 200);
    assert_eq!(
        error_code(app.get("/users/export.csv").await).await,
        "E-AUTH-003"
    );
    assert_eq!(
        error_code(app.get("/users/template.csv").await).await,
        "E-AUTH-003"
    );
    assert_eq!(
        error_code(import(&app, "x.csv", UTF8_SAMPLE, "add_only", None).await).await,
        "E-AUTH-003"
    );
}
