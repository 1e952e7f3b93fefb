//! Small frictions a new user met (issue 16, item 7), from outside: the icon every page asks
//! for, and the pickup form that keeps what was typed (never the password) after a refusal.

use certdesk_tests::spawn_app;

#[tokio::test]
async fn the_icon_is_served_and_every_page_links_it() {
    let app = spawn_app().await;
    let ico = app.get("/favicon.ico").await;
    assert_eq!(ico.status(), 200);
    assert_eq!(ico.headers()["content-type"], "image/x-icon");
    let bytes = ico.bytes().await.expect("body");
    // An ICO directory with one image, a PNG.
    assert_eq!(&bytes[..6], &[0, 0, 1, 0, 1, 0]);
    assert_eq!(&bytes[22..26], b"\x89PNG");
    let svg = app.get("/favicon.svg").await;
    assert_eq!(svg.status(), 200);
    assert_eq!(svg.headers()["content-type"], "image/svg+xml");
    assert!(svg.text().await.expect("body").starts_with("<svg"));
    // Before setup (the setup page), then after it for someone not signed in.
    let before = app.get("/setup").await.text().await.expect("page");
    assert!(before.contains(r#"<link rel="icon" href="/favicon.svg" type="image/svg+xml">"#));
    assert_eq!(app.set_up().await.status(), 200);
    let visitor = certdesk_tests::client();
    for page in ["/pickup", "/login"] {
        let r = visitor
            .get(format!("{}{page}", app.base))
            .send()
            .await
            .expect("get");
        assert_eq!(r.status(), 200, "{page}");
        let html = r.text().await.expect("page");
        assert!(
            html.contains(r#"<link rel="icon" href="/favicon.svg" type="image/svg+xml">"#),
            "{page}: {html}"
        );
    }
}

#[tokio::test]
async fn a_refused_pickup_keeps_the_group_id_and_the_number_but_never_the_password() {
    let app = spawn_app().await;
    assert_eq!(app.set_up().await.status(), 200);
    let r = app
        .client
        .post(format!("{}/pickup/download", app.base))
        .header("origin", &app.base)
        .form(&[
            ("group_id", " G0001 "),
            ("number", "1234-5678-9012"),
            ("password", "secret-pass&word"),
        ])
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), 303);
    let location = r.headers()["location"].to_str().expect("ascii").to_string();
    assert_eq!(
        location,
        "/pickup?error=E-PICKUP-001&group_id=G0001&number=1234-5678-9012"
    );
    assert!(!location.contains("secret"), "{location}");
    // The page fills the two fields back in (the password field stays empty).
    let html = app.get(&location).await.text().await.expect("page");
    assert!(html.contains(r#"value="G0001""#), "{html}");
    assert!(html.contains(r#"value="1234-5678-9012""#), "{html}");
    assert!(!html.contains("secret"), "{html}");
    assert!(html.contains(r#"data-code="E-PICKUP-001""#));

    // What comes back is cut to 64 characters and escaped like any text in the page.
    let long = format!("\"><script>x</script>{}", "9".repeat(100));
    let r = app
        .client
        .post(format!("{}/pickup/download", app.base))
        .header("origin", &app.base)
        .form(&[
            ("group_id", "G0001"),
            ("number", long.as_str()),
            ("password", "x"),
        ])
        .send()
        .await
        .expect("request");
    let location = r.headers()["location"].to_str().expect("ascii").to_string();
    let html = app.get(&location).await.text().await.expect("page");
    assert!(!html.contains("<script>x"), "escaped: {html}");
    // 20 characters of markup, then 44 of the 100 nines.
    assert!(html.contains(&"9".repeat(44)), "{html}");
    assert!(!html.contains(&"9".repeat(45)), "cut to 64 characters");
}
