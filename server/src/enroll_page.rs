//! The self-service enrolment page (`GET /enroll`, issue 17; no console sign-in), in Japanese
//! and English, and the steps it shares with the check page's renewal control.
//!
//! The page is HTML only; `enroll.js` (a module script, [`crate::web::enroll_assets`]) drives
//! it with the enrolment bundle: the key pair is made in the browser, only a PKCS#10 request
//! goes to `POST /api/enroll`, the `.p12` is built and saved on the employee's PC and then the
//! enrolment is confirmed. The texts stay here; the script only shows and hides them, and shows
//! the coded errors it receives (`{code, field, message: {ja, en}}`).
//!
//! HTTPS only: WebCrypto exists only in a secure context, and the private key must not be made
//! on a page anyone on the way could change. Over a plain `http://` public URL the page shows
//! `E-WEB-006` instead of the form; `http://localhost` and `http://127.0.0.1` are exempt
//! (browsers treat them as secure: development and the tests).

use crate::web::enroll_assets::EnrollAssets;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use certdesk_app::error::UiError;
use certdesk_backend::Backend;
use certdesk_domain::distribution::{P12Profile, TYPED_PASSWORD_MAX, TYPED_PASSWORD_MIN};
use certdesk_domain::enroll_browser::EnrollPageError;
use leptos::server_fn::error::{FromServerFnError, ServerFnErrorErr};
use std::path::Path;
use std::sync::Arc;

/// `/enroll` and its files (`/enroll/enroll.HASH.js`, `/enroll/pkg/…`), for the console.
pub fn routes<S>(site_root: &Path) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
    Backend: axum::extract::FromRef<S>,
{
    let assets = Arc::new(EnrollAssets::load(site_root));
    Router::new()
        .route(
            "/enroll",
            get(move |State(backend): State<Backend>| {
                let assets = assets.clone();
                async move { page(&backend, &assets) }
            }),
        )
        .merge(crate::web::enroll_assets::routes(site_root))
}

fn page(backend: &Backend, assets: &EnrollAssets) -> Response {
    let public_url = backend.settings().public_url.clone();
    let body = match secure_enough(&public_url) {
        Ok(()) => {
            let check_url = backend.settings().check_url.clone();
            format!(
                "<h1>証明書の登録 / Certificate enrolment</h1>\
                 <section lang=\"ja\"><p>管理者から届いたグループID・登録番号・登録コードを入力してください。証明書の秘密鍵はこのブラウザの中で作られ、どこにも送信されません。サーバに送るのは公開鍵の証明書署名要求(CSR)だけです。</p></section>\
                 <section lang=\"en\"><p>Enter the group ID, enrolment number and enrolment code your administrator sent you. The certificate's private key is made inside this browser and is never sent anywhere; only a certificate signing request with the public key goes to the server.</p></section>{}",
                flow(Mode::Enroll, assets, check_url.as_deref())
            )
        }
        Err(refusal) => {
            let m = refusal.message();
            format!(
                "<h1>証明書の登録 / Certificate enrolment</h1><div class=\"error\" id=\"refusal\" data-code=\"{code}\" role=\"alert\"><p lang=\"ja\">{code}: {ja}</p><p lang=\"en\">{code}: {en}</p></div>",
                code = refusal.code(),
                ja = esc(&m.ja),
                en = esc(&m.en),
            )
        }
    };
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        document("証明書の登録 / Certificate enrolment", &body),
    )
        .into_response()
}

/// `E-WEB-006` unless `public_url` is HTTPS, or plain HTTP on the loopback names browsers
/// count as secure contexts.
pub fn secure_enough(public_url: &str) -> Result<(), EnrollPageError> {
    let Ok(url) = url::Url::parse(public_url) else {
        return Err(EnrollPageError::PlainHttp {
            url: "https://…/enroll".to_string(),
        });
    };
    let loopback = matches!(
        url.host(),
        Some(url::Host::Domain("localhost"))
            | Some(url::Host::Ipv4(std::net::Ipv4Addr::LOCALHOST))
            | Some(url::Host::Ipv6(std::net::Ipv6Addr::LOCALHOST))
    );
    if url.scheme() == "https" || loopback {
        return Ok(());
    }
    let mut https = url.clone();
    let _ = https.set_scheme("https");
    let _ = https.set_port(None);
    https.set_path("/enroll");
    Err(EnrollPageError::PlainHttp {
        url: https.to_string(),
    })
}

/// Which flow the steps serve.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `/enroll`: group ID, number and code, then `/api/enroll` and `/api/enroll/confirm`.
    Enroll,
    /// The check page's control: the presented certificate, then `/check/renew` and
    /// `/check/renew/confirm`.
    Renew,
}

/// What the check page knows for the renewal control (the page's own data attributes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenewProfile {
    pub key_type: String,
    pub p12_profile: P12Profile,
}

/// The steps and the script, as one `<div id="enroll">`. `check_url`: the check page the
/// employee is sent to at the end (enrolment only).
pub fn flow(mode: Mode, assets: &EnrollAssets, check_url: Option<&str>) -> String {
    flow_with(mode, assets, check_url, None)
}

/// [`flow`] for the renewal control, which knows the profile without asking the console.
pub fn renew_flow(assets: &EnrollAssets, profile: &RenewProfile) -> String {
    flow_with(Mode::Renew, assets, None, Some(profile))
}

fn flow_with(
    mode: Mode,
    assets: &EnrollAssets,
    check_url: Option<&str>,
    renew: Option<&RenewProfile>,
) -> String {
    let unreachable = ui_error_json(ServerFnErrorErr::Request(String::new()));
    let unexpected = ui_error_json(ServerFnErrorErr::ServerError(String::new()));
    let profiles: String = P12Profile::ALL
        .iter()
        .map(|p| {
            let l = p.label();
            let selected = renew.is_some_and(|r| r.p12_profile == *p);
            format!(
                "<option value=\"{}\"{}>{} / {}</option>",
                p.as_str(),
                if selected { " selected" } else { "" },
                esc(&l.ja),
                esc(&l.en)
            )
        })
        .collect();
    let start = match mode {
        Mode::Enroll => "<form id=\"enrol-form\" novalidate>\
            <p><label for=\"group_id\">グループID / Group ID</label><br><input id=\"group_id\" name=\"group_id\" autocomplete=\"off\" required><span class=\"error\" data-for=\"group_id\" hidden></span></p>\
            <p><label for=\"number\">登録番号 / Enrolment number</label><br><input id=\"number\" name=\"number\" autocomplete=\"off\" inputmode=\"numeric\" required><span class=\"error\" data-for=\"number\" hidden></span></p>\
            <p><label for=\"code\">登録コード / Enrolment code</label><br><input id=\"code\" name=\"code\" autocomplete=\"off\" required><span class=\"error\" data-for=\"code\" hidden></span></p>\
            <p><button id=\"enrol\" type=\"submit\" disabled>証明書を作成する / Make my certificate</button></p>\
            </form>".to_string(),
        Mode::Renew => "<p><button id=\"enrol\" type=\"button\" disabled>更新する / Renew now</button></p>".to_string(),
    };
    let done = match mode {
        Mode::Enroll => format!(
            "<section lang=\"ja\"><h3>インストール</h3><ol>{ja}</ol></section><section lang=\"en\"><h3>Install it</h3><ol>{en}</ol></section>{check}",
            ja = IMPORT_STEPS_JA,
            en = IMPORT_STEPS_EN,
            check = check_url
                .map(|u| {
                    let u = esc(u);
                    format!("<p id=\"check-link\">インストール後、<a href=\"{u}\">確認ページ</a>で正しく使えるか確かめてください。 / After installing, open the <a href=\"{u}\">check page</a> to see that it works.</p>")
                })
                .unwrap_or_default(),
        ),
        Mode::Renew => format!(
            "<section lang=\"ja\"><h3>新しい証明書をインストールし、古い証明書を削除してください</h3><ol>{IMPORT_STEPS_JA}</ol>{}</section><section lang=\"en\"><h3>Install the new certificate and delete the old one</h3><ol>{IMPORT_STEPS_EN}</ol>{}</section>",
            crate::check::DELETE_STEPS_JA,
            crate::check::DELETE_STEPS_EN,
        ),
    };
    let (profile_attrs, mode_name) = match renew {
        Some(r) => (
            format!(
                " data-key-type=\"{}\" data-p12-profile=\"{}\"",
                esc(&r.key_type),
                r.p12_profile.as_str()
            ),
            "renew",
        ),
        None => (String::new(), "enroll"),
    };
    format!(
        "<div id=\"enroll\" data-mode=\"{mode_name}\" data-state=\"loading\" data-bundle-js=\"{bjs}\" data-bundle-wasm=\"{bwasm}\" data-unreachable=\"{unreachable}\" data-unexpected=\"{unexpected}\"{profile_attrs}>\
         <noscript><p>このページには JavaScript が必要です。 / This page needs JavaScript.</p></noscript>\
         <div class=\"error\" id=\"enrol-error\" role=\"alert\" hidden></div>\
         {start}\
         <p id=\"progress\" role=\"status\" aria-live=\"polite\">\
           <span data-progress=\"loading\">準備しています… / Getting ready…</span>\
           <span data-progress=\"keygen\" hidden>このブラウザで鍵ペアを作成しています… / Making the key pair in this browser…</span>\
           <span data-progress=\"issuing\" hidden>証明書を発行しています… / Issuing the certificate…</span>\
           <span data-progress=\"building\" hidden>証明書ファイルを作成しています… / Building the certificate file…</span>\
         </p>\
         <section id=\"step-save\" hidden><h2>証明書ファイルの保存 / Save the certificate file</h2>\
           <p>証明書 <b id=\"issued-login\"></b>(有効期限 <span id=\"issued-until\"></span>)を発行しました。ファイル(.p12)を保護するパスワードを決めて保存してください。 / The certificate for <b id=\"issued-login-en\"></b> (valid until <span id=\"issued-until-en\"></span>) is issued. Choose the password that protects the file (.p12) and save it.</p>\
           <fieldset><legend>パスワード / Password</legend>\
             <p><label><input type=\"radio\" name=\"password-choice\" value=\"typed\" checked> 自分で決める / I choose it</label> <label><input type=\"radio\" name=\"password-choice\" value=\"generated\"> 作ってもらう / Make one for me</label></p>\
             <div id=\"typed-password\"><p><label for=\"password\">パスワード({min}〜{max}文字、英字・数字・記号のうち2種類以上) / Password ({min}–{max} characters, at least two kinds of letters, digits, symbols)</label><br><input id=\"password\" name=\"password\" type=\"password\" autocomplete=\"new-password\"><span class=\"error\" data-for=\"password\" hidden></span></p>\
             <p><label for=\"password2\">もう一度 / Once more</label><br><input id=\"password2\" name=\"password2\" type=\"password\" autocomplete=\"new-password\"><span class=\"error\" data-for=\"password2\" hidden></span></p></div>\
             <div id=\"generated\" hidden><p>パスワード / Password: <output id=\"generated-password\"></output></p><p>インストールの時に必要です。書き留めてください(このページを閉じると二度と表示されません)。 / You need it to install the file. Write it down (it is not shown again once this page is closed).</p></div>\
           </fieldset>\
           <p><label for=\"p12-profile\">ファイルの形式 / File format</label><br><select id=\"p12-profile\" name=\"p12_profile\">{profiles}</select></p>\
           <div class=\"error\" id=\"save-error\" role=\"alert\" hidden></div>\
           <p><button id=\"save\" type=\"button\">保存する / Save the file</button></p>\
         </section>\
         <section id=\"step-done\" hidden><h2 id=\"done-title\">保存しました / Saved</h2><p>ファイル <b id=\"saved-name\"></b> をダウンロードしました。 / The file <b id=\"saved-name-en\"></b> was downloaded.</p>{done}</section>\
         </div><script type=\"module\" src=\"{script}\"></script>",
        bjs = esc(&assets.bundle_js),
        bwasm = esc(&assets.bundle_wasm),
        unreachable = esc(&unreachable),
        unexpected = esc(&unexpected),
        script = esc(&assets.script),
        min = TYPED_PASSWORD_MIN,
        max = TYPED_PASSWORD_MAX,
    )
}

/// The coded error body of a transport failure (`E-WEB-001` server unreachable, `E-WEB-003`
/// anything unexpected), as the console's pages show them.
fn ui_error_json(kind: ServerFnErrorErr) -> String {
    serde_json::to_string(&UiError::from_server_fn_error(kind)).unwrap_or_default()
}

const IMPORT_STEPS_JA: &str = "<li>Windows: 保存した .p12 ファイルをダブルクリックし、「現在のユーザー」を選んで [次へ]。パスワードを入力し、証明書ストアは「自動的に選択する」のまま [完了] まで進みます。</li><li>macOS: 保存した .p12 ファイルをダブルクリックし、「ログイン」キーチェーンに追加してパスワードを入力します(macOS 14 以前では「互換」形式を選んでください)。</li><li>ブラウザを再起動し、証明書を選ぶ画面でこの証明書を選びます。</li><li>インストールが終わったら、ダウンロードした .p12 ファイルは削除してください。</li>";
const IMPORT_STEPS_EN: &str = "<li>Windows: double-click the saved .p12 file, choose Current User, Next, enter the password, keep \"select the store automatically\" and go on to Finish.</li><li>macOS: double-click the saved .p12 file, add it to the login keychain and enter the password (on macOS 14 and older choose the Compatible format).</li><li>Restart the browser and choose this certificate when it asks.</li><li>Once it is installed, delete the downloaded .p12 file.</li>";

/// A whole document around `body`.
fn document(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html><html lang=\"ja\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\"><title>{} - certdesk</title><link rel=\"icon\" href=\"/favicon.svg\" type=\"image/svg+xml\"><style>{STYLE}</style></head><body>{body}</body></html>",
        esc(title)
    )
}

/// The page's looks (inline styles are allowed by every policy certdesk sends; scripts are not).
pub const STYLE: &str = "body{font-family:sans-serif;max-width:46rem;margin:2rem auto;padding:0 1rem;line-height:1.6}section{margin-top:1rem}.error{display:block;color:#a00;font-weight:bold}.error span{display:block}input,select{font-size:1rem;padding:.2rem}output{font-family:monospace;font-size:1.2rem;background:#eee;padding:0 .3rem}code{background:#eee;padding:0 .2rem}";

/// Text for HTML.
fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn https_or_loopback_only() {
        assert!(secure_enough("https://certs.example.lan").is_ok());
        assert!(secure_enough("http://localhost:3000").is_ok());
        assert!(secure_enough("http://127.0.0.1:3000").is_ok());
        assert!(secure_enough("http://[::1]:3000").is_ok());
        let refused = secure_enough("http://certs.example.lan:3000").expect_err("plain http");
        assert_eq!(refused.code(), "E-WEB-006");
        assert!(refused
            .message()
            .en
            .contains("https://certs.example.lan/enroll"));
        assert!(secure_enough("http://127.0.0.2:3000").is_err());
    }
}
