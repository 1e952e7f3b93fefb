use certdesk_tests::spawn_app;

#[tokio::test]
async fn the_language_cookie_chooses_english_and_japanese_is_the_default() {
    let app = spawn_app().await;
    app.set_up().await;
    app.post("sign_out", &[]).await;
    let ja = app.get("/login").await.text().await.expect("body");
    assert!(ja.contains(r#"<html lang="ja">"#));
    assert!(ja.contains("サインイン"));
    let en = app
        .client
        .get(format!("{}/login", app.base))
        .header("cookie", "certdesk_lang=en")
        .send()
        .await
        .expect("get")
        .text()
        .await
        .expect("body");
    assert!(en.contains(r#"<html lang="en">"#));
    assert!(en.contains("Sign in with the login ID of a master or admin user."));
}

#[tokio::test]
async fn pages_carry_headers_against_framing_and_sniffing() {
    let app = spawn_app().await;
    let r = app.get("/setup").await;
    assert_eq!(r.headers()["x-frame-options"], "DENY");
    assert_eq!(r.headers()["x-content-type-options"], "nosniff");
}

#[tokio::test]
async fn an_unknown_page_is_a_404_for_a_signed_in_user() {
    let app = spawn_app().await;
    app.set_up().await;
    let r = app.get("/no-such-page").await;
    assert_eq!(r.status(), 404);
}

#[tokio::test]
async fn the_wasm_bundle_is_served_gzip_compressed() {
    let app = spawn_app().await;
    let dir = app.backend.settings().data_dir.join("site").join("pkg");
    std::fs::create_dir_all(&dir).expect("pkg dir");
    std::fs::write(dir.join("certdesk_bg.wasm"), vec![0u8; 64 * 1024]).expect("wasm");
    let r = app
        .client
        .get(format!("{}/pkg/certdesk_bg.wasm", app.base))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-encoding"], "gzip");
    assert!(r.bytes().await.expect("body").len() < 4 * 1024);
}
