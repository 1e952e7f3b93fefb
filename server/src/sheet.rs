//! The printable password sheet of a bundle or pickup: one slip per user, cut along the
//! dashed line and handed over separately from the files. Plain HTML with print CSS, so it
//! prints the same from any browser without JavaScript; the print button's one line of script
//! is a file ([`PRINT_SCRIPT_PATH`]), since the Content-Security-Policy runs no inline script
//! or handler.

use certdesk_backend::Organisation;
use certdesk_domain::views::Slip;

/// Where the sheet's print button script is served (anyone; it holds nothing).
pub const PRINT_SCRIPT_PATH: &str = "/sheet/print.js";

const PRINT_SCRIPT: &str = "document.querySelectorAll('[data-print]').forEach(function (b) {\n  b.addEventListener('click', function () { window.print(); });\n});\n";

/// The print button's script.
pub async fn print_script() -> impl axum::response::IntoResponse {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/javascript; charset=utf-8",
        )],
        PRINT_SCRIPT,
    )
}

pub(crate) fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

const FILE_STEPS: &str = "<ol>
<li>別途受け取った <b>.p12 ファイル</b>をダブルクリックします(Windows: 証明書のインポート ウィザードが開きます。Mac: キーチェーンアクセスが開きます)。</li>
<li>「現在のユーザー」を選び、[次へ] を押します。</li>
<li>パスワードを求められたら、この用紙の<b>パスワード</b>を入力します(大文字・小文字を区別します)。</li>
<li>証明書ストアは「自動的に選択する」のまま [次へ]、[完了] を押します。</li>
<li>ブラウザを再起動し、インターネットバンキングにログインして、証明書を選択します。</li>
<li>証明書の更新・再発行の後は、古い証明書を削除してください(Windows: インターネット オプション &gt; コンテンツ &gt; 証明書)。</li>
</ol>
<p class=\"en\">Open the .p12 file you received separately, choose \"Current user\", enter the password above when asked, keep \"select the store automatically\", finish, restart the browser and pick the certificate when you log in to the bank. After a renewal or reissue, delete the old certificate.</p>";

const PICKUP_STEPS: &str = "<ol>
<li>ブラウザで証明書受取ページ(<code>/pickup</code>)を開きます。</li>
<li>グループID・証明書番号・受取パスワードを入力して、証明書(.p12)をダウンロードします。</li>
<li>ダウンロードしたファイルをダブルクリックし、パスワードを求められたら<b>受取パスワード</b>を入力します。</li>
<li>ダウンロードは最初の取得から24時間以内であれば再度行えます。その後は取得できません。</li>
<li>証明書の更新・再発行の後は、古い証明書を削除してください。</li>
</ol>
<p class=\"en\">Open the pickup page (/pickup), enter the group ID, certificate number and pickup password, download the .p12 and import it with the pickup password. The download works again for 24 hours after the first one. After a renewal or reissue, delete the old certificate.</p>";

/// A printable sheet's document up to `<body>`: its title, the slips' style and the print
/// button's script (shared by the password sheet and the enrolment slips).
pub(crate) fn document_head(title: &str) -> String {
    format!(
        "<!DOCTYPE html><html lang=\"ja\"><head><meta charset=\"utf-8\">\
<title>{title}</title><style>\
body{{font-family:sans-serif;margin:1.5rem;color:#111}}\
.slip{{border:1px dashed #666;padding:1rem 1.2rem;margin:0 0 1.5rem;page-break-inside:avoid;break-inside:avoid}}\
.slip h2{{font-size:1.1rem;margin:0 0 .6rem}}\
table{{border-collapse:collapse}}th,td{{text-align:left;padding:.2rem .8rem .2rem 0;vertical-align:top}}\
.pw{{font-family:monospace;font-size:1.3rem;letter-spacing:.12em}}\
.en{{color:#444;font-size:.85rem}}ol{{margin:.5rem 0 .3rem 1.2rem;padding:0;font-size:.9rem}}\
@media print{{.noprint{{display:none}}.slip{{page-break-after:always}}}}\
</style><script src=\"{PRINT_SCRIPT_PATH}\" defer></script></head><body>"
    )
}

/// Opens one slip (`<section>` for `login_id`, its heading in both languages, its table).
pub(crate) fn open_slip(html: &mut String, login_id: &str, title_ja: &str, title_en: &str) {
    html.push_str("<section class=\"slip\" data-login=\"");
    html.push_str(&esc(login_id));
    html.push_str(&format!(
        "\"><h2>{title_ja} <span class=\"en\">{title_en}</span></h2><table>"
    ));
}

/// One row of a slip's table: the label in both languages, the value escaped.
pub(crate) fn slip_row(html: &mut String, ja: &str, en: &str, value: &str, class: &str) {
    html.push_str(&format!(
        "<tr><th>{ja} <span class=\"en\">{en}</span></th><td class=\"{class}\">{}</td></tr>",
        esc(value)
    ));
}

/// The sheet as a complete HTML document.
/// `check_url` is the installation check page's address, printed on each slip when certdesk
/// serves one.
pub fn render(org: &Organisation, slips: &[Slip], check_url: Option<&str>) -> String {
    let mut html = document_head("証明書パスワード通知書 / Certificate password sheet");
    html.push_str(&format!(
        "<p class=\"noprint\">{} — {} / {}. <button type=\"button\" data-print>印刷 / Print</button></p>",
        esc(&org.name),
        slips.len(),
        "枚 slips",
    ));
    for s in slips {
        open_slip(
            &mut html,
            &s.login_id,
            "証明書パスワード通知書",
            "Certificate password",
        );
        let mut row = |ja: &str, en: &str, value: &str, class: &str| {
            slip_row(&mut html, ja, en, value, class)
        };
        row("組織", "Organisation", &org.name, "");
        row("ログインID", "Login ID", &s.login_id, "");
        row("氏名", "Name", &s.name, "");
        match &s.pickup_number {
            Some(number) => {
                row("グループID", "Group ID", &org.group_id, "");
                row("証明書番号", "Certificate number", number, "pw");
                row("受取パスワード", "Pickup password", &s.password, "pw");
            }
            None => {
                row("ファイル名", "File", &s.file_name, "");
                row("パスワード", "Password", &s.password, "pw");
            }
        }
        if let Some(url) = check_url {
            row("インストール確認", "Installation check", url, "check-url");
        }
        html.push_str("</table>");
        html.push_str(if s.pickup_number.is_some() {
            PICKUP_STEPS
        } else {
            FILE_STEPS
        });
        html.push_str("</section>");
    }
    html.push_str("</body></html>");
    html
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slips_escape_html_and_show_the_password_and_steps() {
        let org = Organisation {
            name: "<株式会社>".into(),
            group_id: "G0001".into(),
            bank_code: "0001".into(),
        };
        let slips = vec![Slip {
            login_id: "taro0001".into(),
            name: "佐藤 <太郎>".into(),
            serial: "ab".into(),
            file_name: "taro0001.p12".into(),
            pickup_number: None,
            password: "Abc&def".into(),
        }];
        let html = render(&org, &slips, None);
        assert!(!html.contains("check-url"));
        assert!(html.contains("&lt;株式会社&gt;"));
        assert!(html.contains("佐藤 &lt;太郎&gt;"));
        assert!(html.contains("Abc&amp;def"));
        assert!(html.contains("証明書のインポート"));
        assert!(!html.contains("<太郎>"));
        assert!(
            !html.contains("onclick"),
            "no inline handler (the CSP would block it)"
        );
        assert!(html.contains("<script src=\"/sheet/print.js\" defer></script>"));
    }

    #[test]
    fn each_slip_shows_the_check_page_when_there_is_one() {
        let org = Organisation {
            name: "テスト".into(),
            group_id: "G0001".into(),
            bank_code: "0001".into(),
        };
        let slip = |login: &str| Slip {
            login_id: login.into(),
            name: "佐藤".into(),
            serial: "ab".into(),
            file_name: format!("{login}.p12"),
            pickup_number: Some("1234-5678-9012".into()),
            password: "pw".into(),
        };
        let html = render(
            &org,
            &[slip("taro0001"), slip("jiro0002")],
            Some("https://certdesk.example.lan:3001/check"),
        );
        assert_eq!(
            html.matches("https://certdesk.example.lan:3001/check")
                .count(),
            2
        );
        assert!(html.contains("インストール確認") && html.contains("Installation check"));
    }
}
