//! The installation check page (`GET /check` on the check listener, no console sign-in): it
//! tells an employee whether the client certificate the browser presented is the one certdesk
//! issued them and still current, in Japanese and English. It shows only the presented
//! certificate's own holder; every check is audited (`certificate_check`).

use crate::tls::CheckPeer;
use axum::extract::{ConnectInfo, State};
use axum::http::header::{self, HeaderValue};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;
use certdesk_backend::tls::CheckReport;
use certdesk_backend::Backend;
use certdesk_domain::serve::CheckVerdict;
use tower_http::set_header::SetResponseHeaderLayer;

/// The check listener's routes: `/check` (GET only; other methods get 405), `/` sends there.
pub fn router(backend: Backend) -> Router {
    Router::new()
        .route("/check", get(page))
        .route("/", get(|| async { Redirect::to("/check") }))
        .merge(crate::check_renew::routes(&backend))
        .fallback(|| async { (StatusCode::NOT_FOUND, "not found") })
        .layer(SetResponseHeaderLayer::overriding(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(
                "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; form-action 'none'; base-uri 'none'",
            ),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ))
        .with_state(backend)
}

async fn page(
    State(backend): State<Backend>,
    ConnectInfo(peer): ConnectInfo<CheckPeer>,
) -> Response {
    let presented = peer.certificate.as_ref().map(|c| c.as_ref().clone());
    match backend.check_certificate(presented).await {
        Ok(report) => {
            let body = render(
                &report,
                &backend.settings().public_url,
                backend.clock().now(),
            );
            ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], body).into_response()
        }
        Err(e) => {
            tracing::error!(code = e.code(), error = %e, "the check page failed");
            let m = e.message();
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                format!("{}: {}\n{}: {}\n", e.code(), m.ja, e.code(), m.en),
            )
                .into_response()
        }
    }
}

/// Text for HTML.
fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

const DELETE_STEPS_JA: &str = "<ul><li>Windows: 「Win+R」で <code>certmgr.msc</code> を開き、「個人」→「証明書」で下のシリアル番号の古い証明書を右クリック→「削除」。ブラウザを再起動してください。</li><li>macOS: 「キーチェーンアクセス」→「ログイン」→「自分の証明書」で古い証明書を選び、削除。ブラウザを再起動してください。</li></ul>";
const DELETE_STEPS_EN: &str = "<ul><li>Windows: press Win+R, open <code>certmgr.msc</code>, go to Personal → Certificates, right-click the old certificate with the serial below → Delete. Restart the browser.</li><li>macOS: Keychain Access → login → My Certificates, select the old certificate and delete it. Restart the browser.</li></ul>";

/// The page for `report` (both languages, Japanese first).
fn render(report: &CheckReport, public_url: &str, now: time::OffsetDateTime) -> String {
    let pickup = format!("{}/pickup", public_url.trim_end_matches('/'));
    let date = |t: time::OffsetDateTime| t.date().to_string();
    let holder = || {
        format!(
            "<dl><dt>ログインID / Login ID</dt><dd id=\"login-id\">{}</dd><dt>氏名 / Name</dt><dd>{}</dd><dt>シリアル番号 / Serial</dt><dd id=\"serial\">{}</dd><dt>有効期限 / Valid until</dt><dd>{}</dd></dl>",
            esc(report.login_id.as_deref().unwrap_or("")),
            esc(report.name.as_deref().unwrap_or("")),
            esc(report.serial.as_deref().unwrap_or("")),
            report.not_after.map(date).unwrap_or_default(),
        )
    };
    let (ja_title, en_title, ja, en) = match &report.verdict {
        CheckVerdict::Current { days_left } => (
            "証明書は正しくインストールされています".to_string(),
            "The certificate is installed correctly".to_string(),
            format!("{}<p>有効期限まであと{days_left}日です。期限が近づくと管理者から更新のお知らせがあります。</p>", holder()),
            format!("<p>It is valid for {days_left} more day(s). Your administrator will tell you when it is to be renewed.</p>"),
        ),
        CheckVerdict::Superseded { current } => {
            let (cur_ja, cur_en) = match current {
                Some(c) => (
                    format!("<p>現在の証明書はシリアル番号 <span id=\"current-serial\">{}</span>(有効期限 {})です。まだ受け取っていなければ、管理者から届いた案内で <a href=\"{}\">受け取りページ</a> から入手してインストールしてください。</p>", esc(&c.serial), date(c.not_after), esc(&pickup)),
                    format!("<p>The current certificate has serial {} (valid until {}). If you have not received it yet, get it from the <a href=\"{}\">pickup page</a> with the notice from your administrator, and install it.</p>", esc(&c.serial), date(c.not_after), esc(&pickup)),
                ),
                None => (
                    "<p>新しい証明書も現在は有効ではありません。管理者に連絡してください。</p>".to_string(),
                    "<p>The newer certificate is not valid now either. Contact your administrator.</p>".to_string(),
                ),
            };
            (
                "この証明書は古い証明書です(更新または再発行済み)".to_string(),
                "This is an old certificate (renewed or reissued)".to_string(),
                format!("{}{cur_ja}<p>古い証明書は削除してください:</p>{DELETE_STEPS_JA}", holder()),
                format!("{cur_en}<p>Delete the old certificate:</p>{DELETE_STEPS_EN}"),
            )
        }
        CheckVerdict::Revoked => (
            "この証明書は失効しています".to_string(),
            "This certificate has been revoked".to_string(),
            format!("{}<p>この証明書ではログインできません。削除し、新しい証明書の発行を管理者に依頼してください。</p>{DELETE_STEPS_JA}", holder()),
            format!("<p>It can no longer be used to log in. Delete it and ask your administrator for a new certificate.</p>{DELETE_STEPS_EN}"),
        ),
        CheckVerdict::Expired { on } => (
            "この証明書は有効期限が切れています".to_string(),
            "This certificate has expired".to_string(),
            format!("{}<p>{on}に期限が切れました。削除し、新しい証明書の発行を管理者に依頼してください。</p>{DELETE_STEPS_JA}", holder()),
            format!("<p>It expired on {on}. Delete it and ask your administrator for a new certificate.</p>{DELETE_STEPS_EN}"),
        ),
        CheckVerdict::Foreign => (
            "この証明書は当組織が発行したものではありません".to_string(),
            "This certificate was not issued by this organisation".to_string(),
            format!("<p>ブラウザが提示した証明書は、この組織の certdesk が発行したものではありません。ブラウザが証明書を選ぶ画面が出たら、当組織の証明書(発行元が当組織のCA)を選んでください。見つからなければ <a href=\"{}\">受け取りページ</a> から入手してインストールしてください。</p>", esc(&pickup)),
            format!("<p>The certificate your browser presented was not issued by this organisation's certdesk. When the browser asks which certificate to use, choose the one issued by this organisation's CA. If there is none, get it from the <a href=\"{}\">pickup page</a> and install it.</p>", esc(&pickup)),
        ),
        CheckVerdict::NonePresented => (
            "証明書が提示されませんでした".to_string(),
            "No certificate was presented".to_string(),
            format!("<p>このブラウザには当組織の証明書がインストールされていないか、選ばれませんでした。</p><ol><li>管理者から届いた案内で <a href=\"{0}\">受け取りページ</a> から証明書ファイル(.p12)をダウンロードします。</li><li>Windows: .p12 ファイルをダブルクリックし、「現在のユーザー」を選んでパスワードを入力、そのまま「完了」まで進みます。macOS: ダブルクリックして「ログイン」キーチェーンに追加し、パスワードを入力します。</li><li>ブラウザを再起動してこのページを開き直し、証明書を選ぶ画面で当組織の証明書を選びます。</li></ol>", esc(&pickup)),
            format!("<p>Your browser has no certificate of this organisation installed, or none was chosen.</p><ol><li>Download your certificate file (.p12) from the <a href=\"{0}\">pickup page</a>, with the notice from your administrator.</li><li>Windows: double-click the .p12 file, choose Current User, enter the password and go on to Finish. macOS: double-click it, add it to the login keychain and enter the password.</li><li>Restart the browser, open this page again and choose this organisation's certificate when asked.</li></ol>", esc(&pickup)),
        ),
    };
    let _ = now;
    format!(
        "<!DOCTYPE html><html lang=\"ja\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\"><title>{ja_title} / {en_title} - certdesk</title><style>body{{font-family:sans-serif;max-width:46rem;margin:2rem auto;padding:0 1rem;line-height:1.6}}section{{border-top:1px solid #ccc;margin-top:1.5rem}}dt{{font-weight:bold}}code{{background:#eee;padding:0 .2rem}}</style></head><body data-verdict=\"{verdict}\"><h1>証明書の確認 / Certificate check</h1><section lang=\"ja\"><h2 id=\"verdict-ja\">{ja_title}</h2>{ja}</section><section lang=\"en\"><h2 id=\"verdict-en\">{en_title}</h2>{en}</section></body></html>",
        ja_title = esc(&ja_title),
        en_title = esc(&en_title),
        verdict = report.verdict.as_str(),
    )
}
