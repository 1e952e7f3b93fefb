//! What the self-service enrolment page (`/enroll`) and the check page's renewal control
//! refuse on their own, before or without the server: `E-WEB-006`–`009` (the browser/server
//! connection's family). The server's refusals of an enrolment are the `E-ENROLL-*` family.

use crate::error::error_codes;
use crate::lang::Message;

error_codes! {
    /// Refused in the employee's browser (or, for plain HTTP, by the page itself).
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub enum EnrollPageError {
        /// The page was opened over plain HTTP: WebCrypto and the private key need HTTPS.
        PlainHttp { url: String } = "E-WEB-006" => "the enrolment page needs HTTPS ({url})",
        /// WebCrypto is missing or refused to make, export or use the key pair.
        NoWebCrypto { detail: String } = "E-WEB-007" => "the browser could not make the key pair: {detail}",
        /// The password and its confirmation differ.
        PasswordsDiffer = "E-WEB-008" => "the two passwords differ",
        /// The `.p12` could not be built from the key and the returned certificate.
        FileFailed { detail: String } = "E-WEB-009" => "the certificate file could not be built: {detail}",
    }
}

impl EnrollPageError {
    /// The form field the error is about.
    pub fn field(&self) -> Option<&'static str> {
        match self {
            EnrollPageError::PasswordsDiffer => Some("password2"),
            EnrollPageError::PlainHttp { .. }
            | EnrollPageError::NoWebCrypto { .. }
            | EnrollPageError::FileFailed { .. } => None,
        }
    }

    /// What is wrong and what to do, in both languages.
    pub fn message(&self) -> Message {
        match self {
            EnrollPageError::PlainHttp { url } => Message::new(
                format!("このページは暗号化されていない接続(http)で開かれたため、証明書を作成できません。秘密鍵を安全に作るには HTTPS が必要です。{url} を開いてください。"),
                format!("This page was opened over an unencrypted connection (http), so no certificate can be made here: making the private key safely needs HTTPS. Open {url} instead."),
            ),
            EnrollPageError::NoWebCrypto { detail } => Message::new(
                format!("このブラウザでは鍵ペアを作成できませんでした({detail})。最新の Chrome、Edge、Firefox または Safari で、このページを開き直してください。何も送信していません。"),
                format!("This browser could not make the key pair ({detail}). Open this page again in a current Chrome, Edge, Firefox or Safari. Nothing was sent."),
            ),
            EnrollPageError::PasswordsDiffer => Message::new(
                "確認用のパスワードが一致しません。同じパスワードを2回入力してください。",
                "The confirmation does not match the password. Type the same password twice.",
            ),
            EnrollPageError::FileFailed { detail } => Message::new(
                format!("証明書ファイル(.p12)を作成できませんでした({detail})。ページを再読み込みし、同じコードでもう一度最初からやり直してください(未保存の証明書は失効されます)。"),
                format!("The certificate file (.p12) could not be built ({detail}). Reload the page and start again with the same code (the unsaved certificate is revoked)."),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_fields() {
        assert_eq!(
            EnrollPageError::CODES,
            ["E-WEB-006", "E-WEB-007", "E-WEB-008", "E-WEB-009"]
        );
        assert_eq!(EnrollPageError::PasswordsDiffer.field(), Some("password2"));
        let m = EnrollPageError::PlainHttp {
            url: "https://x/enroll".into(),
        }
        .message();
        assert!(m.ja.contains("https://x/enroll") && m.en.contains("https://x/enroll"));
    }
}
