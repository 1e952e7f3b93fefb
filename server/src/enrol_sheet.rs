//! The printable enrolment slips (issue 17): one slip per user with the group ID, the
//! enrolment number, the one-time code, its expiry, the enrolment page's address and short
//! steps in Japanese and English. Like the password sheet ([`crate::sheet`]) it is plain
//! HTML with print CSS and the same print button script.
//!
//! The codes are kept nowhere on the server (only their hashes), so the console posts the
//! slips it was just given (`POST /enrolment/sheet`, the fields of [`FIELDS`] once per slip)
//! and this page renders them: for a signed-in console user, same-origin, never cached.

use crate::sheet::{document_head, esc, open_slip, slip_row};
use certdesk_backend::Organisation;
use certdesk_domain::enrolment::{EnrolmentOperation, EnrolmentSlip};

/// The most slips one sheet renders (a selection is capped the same way when opening).
pub const MAX_SLIPS: usize = certdesk_domain::lifecycle::MAX_VALID_CERTIFICATES as usize;

/// The fields of one slip, in the order the console posts them (repeated once per slip).
pub const FIELDS: [&str; 7] = [
    "login_id",
    "name",
    "group_id",
    "number",
    "code",
    "expires_at",
    "operation",
];

/// The posted slips (an `application/x-www-form-urlencoded` body of [`FIELDS`] repeated), or
/// `None` when the body is not that (or holds more than [`MAX_SLIPS`]).
pub fn parse_form(body: &[u8]) -> Option<Vec<EnrolmentSlip>> {
    let pairs: Vec<(String, String)> = url::form_urlencoded::parse(body)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    if pairs.is_empty()
        || !pairs.len().is_multiple_of(FIELDS.len())
        || pairs.len() / FIELDS.len() > MAX_SLIPS
    {
        return None;
    }
    pairs
        .chunks(FIELDS.len())
        .map(|chunk| {
            if chunk.iter().zip(FIELDS).any(|((k, _), f)| k != f) {
                return None;
            }
            Some(EnrolmentSlip {
                user_id: 0,
                login_id: chunk[0].1.clone(),
                name: chunk[1].1.clone(),
                group_id: chunk[2].1.clone(),
                number: chunk[3].1.clone(),
                code: chunk[4].1.clone(),
                expires_at: chunk[5].1.clone(),
                operation: EnrolmentOperation::parse(&chunk[6].1)?,
            })
        })
        .collect()
}

const STEPS: &str = "<ol>
<li>パソコンのブラウザ(Chrome・Edge・Firefox・Safari の最新版)で、上の<b>登録ページ</b>を開きます。</li>
<li>グループID・登録番号・<b>登録コード</b>を入力します(登録コードは大文字・小文字を区別しません。5回続けて間違えるとロックされます)。</li>
<li>秘密鍵はお使いのブラウザの中で作られ、サーバには送られません。画面の案内に従ってファイルのパスワードを決め、証明書ファイル(.p12)を保存します。</li>
<li>保存したファイルをダブルクリックして取り込み、ブラウザを再起動します(手順は登録ページに表示されます)。</li>
<li>登録コードは一度だけ使えます。有効期限を過ぎた場合やロックされた場合は、管理者に新しい登録コードを依頼してください。</li>
</ol>
<p class=\"en\">Open the enrolment page above in your computer's browser (a current Chrome, Edge, Firefox or Safari), enter the group ID, the enrolment number and the enrolment code (5 wrong codes in a row lock it). Your browser makes the private key; it is never sent to the server. Choose a password for the file, save the .p12, import it and restart the browser (the page shows how). The code works once; if it has expired or is locked, ask your administrator for a new one.</p>";

/// The slips as a complete HTML document. `enrol_url` is the enrolment page's address.
pub fn render(org: &Organisation, slips: &[EnrolmentSlip], enrol_url: &str) -> String {
    let mut html = document_head("証明書登録コード通知書 / Certificate enrolment slips");
    html.push_str(&format!(
        "<p class=\"noprint\">{} — {} 枚 slips. <button type=\"button\" data-print>印刷 / Print</button></p>",
        esc(&org.name),
        slips.len(),
    ));
    for s in slips {
        open_slip(
            &mut html,
            &s.login_id,
            "証明書登録コード通知書",
            "Certificate enrolment slip",
        );
        let mut row = |ja: &str, en: &str, value: &str, class: &str| {
            slip_row(&mut html, ja, en, value, class)
        };
        row("組織", "Organisation", &org.name, "");
        row("ログインID", "Login ID", &s.login_id, "");
        row("氏名", "Name", &s.name, "");
        row("グループID", "Group ID", &s.group_id, "group-id");
        row("登録番号", "Enrolment number", &s.number, "pw number");
        row("登録コード", "Enrolment code", &s.code, "pw code");
        let until = time::OffsetDateTime::parse(
            &s.expires_at,
            &time::format_description::well_known::Rfc3339,
        )
        .map(certdesk_domain::notices::jst_minute)
        .unwrap_or_else(|_| s.expires_at.clone());
        row(
            "有効期限(日本時間)",
            "Valid until (Japan time)",
            &until,
            "expires",
        );
        row("登録ページ", "Enrolment page", enrol_url, "enrol-url");
        if s.operation == EnrolmentOperation::Reissue {
            row(
                "種別",
                "Kind",
                "再発行(新しい証明書の保存後、古い証明書は失効します) / Reissue: the old certificate is revoked once the new one is saved",
                "operation",
            );
        }
        html.push_str("</table>");
        html.push_str(STEPS);
        html.push_str("</section>");
    }
    html.push_str("</body></html>");
    html
}

/// `POST /enrolment/sheet` for a signed-in console user (the caller checks the session):
/// the posted slips as a printable page, never cached; a field that is not a list of slips
/// is answered 400 with `E-WEB-002` (the request could not be read).
pub async fn respond(
    backend: &certdesk_backend::Backend,
    body: &[u8],
) -> Result<axum::response::Response, certdesk_backend::ServiceError> {
    use axum::http::{header, StatusCode};
    use axum::response::{Html, IntoResponse};
    use leptos::server_fn::error::{FromServerFnError, ServerFnErrorErr};
    let Some(slips) = parse_form(body) else {
        let ui = certdesk_app::error::UiError::from_server_fn_error(
            ServerFnErrorErr::Deserialization("slips".into()),
        );
        return Ok((
            StatusCode::BAD_REQUEST,
            [(header::CONTENT_TYPE, "application/json")],
            serde_json::to_string(&ui).unwrap_or_default(),
        )
            .into_response());
    };
    let org = backend
        .organisation()
        .await?
        .ok_or(certdesk_backend::ServiceError::from(
            certdesk_domain::SetupError::NotSetUp,
        ))?;
    let enrol_url = format!(
        "{}/enroll",
        backend.settings().public_url.trim_end_matches('/')
    );
    Ok((
        [(header::CACHE_CONTROL, "no-store")],
        Html(render(&org, &slips, &enrol_url)),
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slip(login: &str) -> EnrolmentSlip {
        EnrolmentSlip {
            user_id: 2,
            login_id: login.into(),
            name: "佐藤 <太郎>".into(),
            group_id: "G0001".into(),
            number: "1234-5678-9012".into(),
            code: "ABCD-EFGH-JKLM".into(),
            expires_at: "2026-12-19T03:04:05Z".into(),
            operation: EnrolmentOperation::Issue,
        }
    }

    #[test]
    fn slips_show_group_number_code_expiry_and_page_escaped() {
        let org = Organisation {
            name: "<株式会社>".into(),
            group_id: "G0001".into(),
            bank_code: "0001".into(),
        };
        let html = render(
            &org,
            &[slip("taro0001"), slip("jiro0002")],
            "https://certdesk.example.lan/enroll",
        );
        assert_eq!(html.matches("<section class=\"slip\"").count(), 2);
        assert!(html.contains("&lt;株式会社&gt;") && !html.contains("<太郎>"));
        assert!(html.contains("1234-5678-9012") && html.contains("ABCD-EFGH-JKLM"));
        // Stored in UTC, printed in Japan time.
        assert!(html.contains("2026-12-19 12:04"));
        assert_eq!(
            html.matches("https://certdesk.example.lan/enroll").count(),
            2
        );
        assert!(html.contains("登録コード") && html.contains("Enrolment code"));
        assert!(!html.contains("onclick"));
        assert!(html.contains("<script src=\"/sheet/print.js\" defer></script>"));
        assert!(!html.contains("class=\"operation\""));
    }

    fn posted(slips: &[EnrolmentSlip]) -> String {
        let mut form = url::form_urlencoded::Serializer::new(String::new());
        for s in slips {
            for (k, v) in FIELDS.iter().zip([
                &s.login_id,
                &s.name,
                &s.group_id,
                &s.number,
                &s.code,
                &s.expires_at,
                &s.operation.as_str().to_string(),
            ]) {
                form.append_pair(k, v);
            }
        }
        form.finish()
    }

    #[test]
    fn posted_slips_read_back_and_anything_else_is_refused() {
        let two = [slip("taro0001"), slip("jiro0002")];
        let read = parse_form(posted(&two).as_bytes()).expect("two slips");
        assert_eq!(read.len(), 2);
        assert_eq!(read[1].login_id, "jiro0002");
        assert_eq!(read[0].name, "佐藤 <太郎>");
        assert_eq!(read[0].code, "ABCD-EFGH-JKLM");
        assert!(parse_form(b"").is_none());
        assert!(parse_form(b"slips=x").is_none());
        let reordered = posted(&two[..1]).replacen("login_id", "nam", 1);
        assert!(parse_form(reordered.as_bytes()).is_none());
        let bad_op = posted(&two[..1]).replace("operation=issue", "operation=other");
        assert!(parse_form(bad_op.as_bytes()).is_none());
        let many = vec![slip("a"); MAX_SLIPS + 1];
        assert!(parse_form(posted(&many).as_bytes()).is_none());
    }
}
