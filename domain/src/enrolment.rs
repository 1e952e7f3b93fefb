//! Self-service enrolment (issue 17): the employee's browser makes the key pair and sends only
//! a PKCS#10 request; certdesk certifies it. An administrator opens one enrolment per user
//! (group ID, enrolment number, one-time code); a certificate whose key the holder made is
//! renewed by the holder on the check page. No I/O here; randomness and time are passed in.
//!
//! Rules: the code is [`CODE_LEN`] characters of [`CODE_ALPHABET`] (no look-alikes), shown in
//! groups of four; the number is 12 digits like a pickup's; an enrolment is valid for a setting
//! of 1–90 days (14 by default), is used once (when the browser confirms the download), and
//! [`MAX_FAILURES`] wrong codes in a row lock it until an administrator resets it. A request is
//! at most [`MAX_CSR_BYTES`] of DER.

use crate::error::error_codes;
use crate::lang::Message;
use crate::profile::KeyType;
use serde::{Deserialize, Serialize};
use time::{Date, Duration, OffsetDateTime};

/// Characters of an enrolment code: upper-case letters and digits without look-alikes
/// (0 O, 1 I). 32 symbols, so 12 of them carry 60 bits.
pub const CODE_ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
/// Characters in an enrolment code.
pub const CODE_LEN: usize = 12;
/// Wrong codes in a row that lock an enrolment.
pub const MAX_FAILURES: u32 = 5;
/// Bounds and default of the validity setting, in days.
pub const VALIDITY_DAYS_MIN: u32 = 1;
pub const VALIDITY_DAYS_MAX: u32 = 90;
pub const VALIDITY_DAYS_DEFAULT: u32 = 14;
/// The largest certificate request accepted (DER bytes). A 2048-bit RSA request is under 1 KiB.
pub const MAX_CSR_BYTES: usize = 16 * 1024;
/// The largest base64 text of a request: [`MAX_CSR_BYTES`] encoded, with padding.
pub const MAX_CSR_BASE64: usize = MAX_CSR_BYTES.div_ceil(3) * 4;

/// A one-time enrolment code: [`CODE_LEN`] characters of [`CODE_ALPHABET`], drawn without bias
/// from `random` (32 divides 256, so every byte is used), shown as `ABCD-EFGH-JKLM`.
pub fn generate_code(mut random: impl FnMut() -> u8) -> String {
    let mut out = String::with_capacity(CODE_LEN + 2);
    for i in 0..CODE_LEN {
        if i > 0 && i % 4 == 0 {
            out.push('-');
        }
        let b = usize::from(random());
        out.push(char::from(CODE_ALPHABET[b % CODE_ALPHABET.len()]));
    }
    out
}

/// The code as typed, reduced to its [`CODE_LEN`] characters (upper case; spaces, hyphens and
/// full-width forms allowed), or `None`.
pub fn normalise_code(typed: &str) -> Option<String> {
    let mut out = String::with_capacity(CODE_LEN);
    for c in typed.chars() {
        let c = match c {
            '！'..='～' => char::from_u32(u32::from(c) - 0xFEE0)?,
            c => c,
        };
        match c {
            ' ' | '-' | '　' => {}
            c if c.is_ascii_alphanumeric() => {
                let up = c.to_ascii_uppercase();
                if !CODE_ALPHABET.contains(&(up as u8)) {
                    return None;
                }
                out.push(up);
            }
            _ => return None,
        }
    }
    (out.len() == CODE_LEN).then_some(out)
}

/// An enrolment number: 12 digits in groups of four, like a pickup's certificate number.
pub fn generate_number(random: impl FnMut() -> u8) -> String {
    crate::distribution::pickup_number(random)
}

/// The number as typed (spaces, hyphens, full-width digits allowed), or `None`.
pub fn normalise_number(typed: &str) -> Option<String> {
    crate::distribution::normalise_pickup_number(typed)
}

/// Checks the validity setting (days an unused enrolment stays open).
pub fn check_validity_days(days: u32) -> Result<(), EnrolmentError> {
    if (VALIDITY_DAYS_MIN..=VALIDITY_DAYS_MAX).contains(&days) {
        Ok(())
    } else {
        Err(EnrolmentError::ValidityRange)
    }
}

/// Whether an enrolment is opened for a first certificate or to replace the valid one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EnrolmentOperation {
    Issue,
    Reissue,
}

impl EnrolmentOperation {
    pub fn as_str(self) -> &'static str {
        match self {
            EnrolmentOperation::Issue => "issue",
            EnrolmentOperation::Reissue => "reissue",
        }
    }

    pub fn parse(s: &str) -> Option<EnrolmentOperation> {
        match s {
            "issue" => Some(EnrolmentOperation::Issue),
            "reissue" => Some(EnrolmentOperation::Reissue),
            _ => None,
        }
    }
}

/// Where an enrolment stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EnrolmentState {
    /// Waiting for the employee (a certificate may already be issued and not yet confirmed).
    Open,
    /// Locked after [`MAX_FAILURES`] wrong codes: an administrator resets it.
    Locked,
    /// The employee confirmed the download.
    Used,
    /// Not used within its validity.
    Expired,
}

impl EnrolmentState {
    /// The state at `now` of an enrolment with these facts. Used wins over locked and
    /// expired; locked over expired (an administrator's reset gives a new code and validity).
    pub fn at(used: bool, locked: bool, expires_at: OffsetDateTime, now: OffsetDateTime) -> Self {
        if used {
            EnrolmentState::Used
        } else if locked {
            EnrolmentState::Locked
        } else if now >= expires_at {
            EnrolmentState::Expired
        } else {
            EnrolmentState::Open
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            EnrolmentState::Open => "open",
            EnrolmentState::Locked => "locked",
            EnrolmentState::Used => "used",
            EnrolmentState::Expired => "expired",
        }
    }

    pub fn label(self) -> Message {
        match self {
            EnrolmentState::Open => Message::new("受付中", "Open"),
            EnrolmentState::Locked => Message::new("ロック中", "Locked"),
            EnrolmentState::Used => Message::new("登録済み", "Used"),
            EnrolmentState::Expired => Message::new("期限切れ", "Expired"),
        }
    }
}

/// When an enrolment opened at `now` with `validity_days` stops being usable.
pub fn expires_at(now: OffsetDateTime, validity_days: u32) -> OffsetDateTime {
    now + Duration::days(i64::from(validity_days))
}

/// A printable slip (and the answer to "open"): the code appears only here, once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnrolmentSlip {
    pub user_id: i64,
    pub login_id: String,
    pub name: String,
    pub group_id: String,
    pub number: String,
    pub code: String,
    /// RFC 3339.
    pub expires_at: String,
    pub operation: EnrolmentOperation,
}

/// One enrolment as the Distribution page lists it (never the code).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnrolmentRow {
    pub id: i64,
    pub user_id: i64,
    pub login_id: String,
    pub name: String,
    pub number: String,
    pub operation: EnrolmentOperation,
    pub state: EnrolmentState,
    pub failures: u32,
    /// RFC 3339.
    pub created_at: String,
    pub expires_at: String,
    pub used_at: Option<String>,
    /// The serial of a certificate issued and not yet confirmed (the employee may retry).
    pub pending_serial: Option<String>,
}

/// The organisation's enrolment settings (masters change them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnrolmentSettings {
    /// Days an enrolment stays open, [`VALIDITY_DAYS_MIN`]..=[`VALIDITY_DAYS_MAX`].
    pub validity_days: u32,
    /// Whether holders may renew on the check page.
    pub self_renewal: bool,
}

impl Default for EnrolmentSettings {
    fn default() -> Self {
        EnrolmentSettings {
            validity_days: VALIDITY_DAYS_DEFAULT,
            self_renewal: true,
        }
    }
}

/// Whether the check page offers "Renew now" for the presented certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum SelfRenewalOffer {
    /// Current and in its renewal window, self-renewal on (or a renewal started from this
    /// certificate is not confirmed yet and may be tried again).
    Offered,
    /// Current, but the window opens on `opens_on` ([`crate::lifecycle::LifecycleError::RenewalNotOpen`], E-CERT-003).
    NotOpenYet { opens_on: Date },
    /// A master turned self-renewal off.
    Disabled,
    /// Not current (none presented, not ours, revoked, superseded, expired): a new issue.
    NotOffered,
}

impl SelfRenewalOffer {
    pub fn as_str(self) -> &'static str {
        match self {
            SelfRenewalOffer::Offered => "offered",
            SelfRenewalOffer::NotOpenYet { .. } => "not_open_yet",
            SelfRenewalOffer::Disabled => "disabled",
            SelfRenewalOffer::NotOffered => "not_offered",
        }
    }

    /// The refusal a renewal request gets in this state (`None` when offered).
    pub fn refusal(self) -> Option<SelfRenewalRefusal> {
        match self {
            SelfRenewalOffer::Offered => None,
            SelfRenewalOffer::NotOpenYet { opens_on } => Some(SelfRenewalRefusal::NotOpenYet(
                crate::lifecycle::LifecycleError::RenewalNotOpen { opens_on },
            )),
            SelfRenewalOffer::Disabled => Some(SelfRenewalRefusal::Enrolment(
                EnrolmentError::SelfRenewalOff,
            )),
            SelfRenewalOffer::NotOffered => {
                Some(SelfRenewalRefusal::Enrolment(EnrolmentError::NotCurrent))
            }
        }
    }
}

/// Why a renewal request is refused: E-CERT-003 outside the window, else an `E-ENROLL` code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SelfRenewalRefusal {
    NotOpenYet(crate::lifecycle::LifecycleError),
    Enrolment(EnrolmentError),
}

/// What the browser needs before it makes a key (`GET /api/enroll/profile`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnrolmentProfile {
    pub key_type: KeyType,
    pub p12_profile: crate::distribution::P12Profile,
    pub check_url: Option<String>,
}

error_codes! {
    /// Enrolment and self-renewal refused (`E-ENROLL-NNN`).
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub enum EnrolmentError {
        /// Setup is not done, or the CA is not ready.
        NotReady = "E-ENROLL-001" => "enrolment is not ready",
        /// Unknown group ID or number, or a wrong code (one answer, so nothing can be probed).
        Unavailable = "E-ENROLL-002" => "group ID, number or code wrong",
        /// Locked after 5 wrong codes (told only to whoever types the right code).
        Locked = "E-ENROLL-003" => "enrolment locked",
        /// Already used (told only with the right code).
        Used = "E-ENROLL-004" => "enrolment already used",
        /// Past its validity (told only with the right code).
        Expired = "E-ENROLL-005" => "enrolment expired",
        /// The request is not base64 DER of a PKCS#10 certificate request.
        CsrMalformed = "E-ENROLL-006" => "the certificate request is malformed",
        /// The request is over 16 KiB.
        CsrTooLarge { max: usize } = "E-ENROLL-007" => "the certificate request is over {max} bytes",
        /// The request's signature does not verify with its own key (signed by another key).
        CsrSignature = "E-ENROLL-008" => "the certificate request's signature does not verify",
        /// The request's key is not of the organisation's key type.
        KeyType { expected: KeyType } = "E-ENROLL-009" => "the key must be {expected:?}",
        /// An RSA key of another size than 2048 bits.
        RsaSize { bits: usize } = "E-ENROLL-010" => "the RSA key has {bits} bits, 2048 expected",
        /// Signed with an algorithm certdesk does not accept (only SHA-256 with RSA PKCS#1 v1.5 or ECDSA P-256).
        CsrAlgorithm = "E-ENROLL-011" => "the request is signed with an unsupported algorithm",
        /// The validity setting is out of range.
        ValidityRange = "E-ENROLL-012" => "enrolment validity must be 1 to 90 days",
        /// Opening an enrolment for a user who holds a valid certificate, without reissue.
        HasValidCertificate { login_id: String } = "E-ENROLL-013" => "{login_id} holds a valid certificate",
        /// A confirmation with an unknown or wrong token.
        ConfirmUnknown = "E-ENROLL-014" => "nothing to confirm with this token",
        /// A master turned self-renewal off.
        SelfRenewalOff = "E-ENROLL-015" => "self-renewal is off",
        /// The presented certificate is not a current certificate of this organisation.
        NotCurrent = "E-ENROLL-016" => "the presented certificate is not current",
        /// The request's Origin is not the page's own.
        WrongOrigin = "E-ENROLL-017" => "request from another origin",
        /// A server-made file asked for a certificate whose key the holder made.
        KeyWithHolder { login_id: String } = "E-ENROLL-018" => "the key of {login_id} was made by its holder",
        /// No open enrolment for the user (reset).
        NoEnrolment { login_id: String } = "E-ENROLL-019" => "{login_id} has no enrolment to reset",
        /// With an external CA (cfssl), a request whose subject has fields other than CN, O
        /// and OU: cfssl would copy them into the certificate, so it is refused before sending.
        CsrSubjectFields { fields: String } = "E-ENROLL-020" => "the request's subject has {fields}",
    }
}

impl EnrolmentError {
    /// The request field the error is about, if any.
    pub fn field(&self) -> Option<&'static str> {
        match self {
            EnrolmentError::CsrMalformed
            | EnrolmentError::CsrTooLarge { .. }
            | EnrolmentError::CsrSignature
            | EnrolmentError::KeyType { .. }
            | EnrolmentError::RsaSize { .. }
            | EnrolmentError::CsrAlgorithm
            | EnrolmentError::CsrSubjectFields { .. } => Some("csr"),
            EnrolmentError::ValidityRange => Some("validity_days"),
            EnrolmentError::ConfirmUnknown => Some("confirm_token"),
            _ => None,
        }
    }

    /// What is wrong and what to do, in both languages.
    pub fn message(&self) -> Message {
        match self {
            EnrolmentError::NotReady => Message::new(
                "証明書の登録はまだ準備できていません(初期設定前、または認証局の準備中)。管理者に連絡してください。",
                "Enrolment is not ready yet (setup not done, or the CA is not ready). Contact your administrator.",
            ),
            EnrolmentError::Unavailable => Message::new(
                "グループID・登録番号・登録コードのいずれかが正しくありません。管理者から受け取った通知書を確認して入力し直してください。5回続けて間違えるとロックされます。",
                "The group ID, enrolment number or code is not right. Check them against the slip from your administrator and type them again. 5 wrong codes in a row lock the enrolment.",
            ),
            EnrolmentError::Locked => Message::new(
                "登録コードを5回続けて間違えたため、この登録はロックされています。管理者にロック解除(新しい登録コードの発行)を依頼してください。",
                "This enrolment is locked after 5 wrong codes. Ask your administrator to reset it; you will get a new code.",
            ),
            EnrolmentError::Used => Message::new(
                "この登録はすでに使われています(証明書は発行・保存済み)。証明書をなくした場合は管理者に再発行を依頼してください。",
                "This enrolment was already used (the certificate was issued and saved). If you lost it, ask your administrator for a reissue.",
            ),
            EnrolmentError::Expired => Message::new(
                "この登録は有効期限が切れています。管理者に新しい登録コードの発行を依頼してください。",
                "This enrolment has expired. Ask your administrator for a new enrolment code.",
            ),
            EnrolmentError::CsrMalformed => Message::new(
                "証明書要求(CSR)を読み取れませんでした(何も発行していません)。ページを再読み込みして、もう一度お試しください。",
                "The certificate request (CSR) could not be read; nothing was issued. Reload the page and try again.",
            ),
            EnrolmentError::CsrTooLarge { max } => Message::new(
                format!("証明書要求(CSR)が大きすぎます({max}バイトまで)。何も発行していません。ページを再読み込みして、もう一度お試しください。"),
                format!("The certificate request (CSR) is too large (at most {max} bytes); nothing was issued. Reload the page and try again."),
            ),
            EnrolmentError::CsrSignature => Message::new(
                "証明書要求(CSR)の署名が、要求に含まれる公開鍵で検証できません(何も発行していません)。このブラウザで作った鍵で、もう一度お試しください。",
                "The certificate request's signature does not verify with the key in it; nothing was issued. Try again with the key this browser makes.",
            ),
            EnrolmentError::KeyType { expected } => Message::new(
                format!("鍵の種類が組織の設定({})と違います(何も発行していません)。ページを再読み込みして、もう一度お試しください。", expected.label()),
                format!("The key is not of the organisation's key type ({}); nothing was issued. Reload the page and try again.", expected.label()),
            ),
            EnrolmentError::RsaSize { bits } => Message::new(
                format!("RSA鍵の長さが{bits}ビットです。2048ビットの鍵で、もう一度お試しください(何も発行していません)。"),
                format!("The RSA key has {bits} bits; use a 2048-bit key and try again (nothing was issued)."),
            ),
            EnrolmentError::CsrAlgorithm => Message::new(
                "証明書要求(CSR)の署名方式に対応していません(RSA PKCS#1 v1.5 SHA-256 または ECDSA P-256 SHA-256 のみ)。何も発行していません。",
                "The certificate request is signed with an algorithm certdesk does not accept (only RSA PKCS#1 v1.5 with SHA-256, or ECDSA P-256 with SHA-256); nothing was issued.",
            ),
            EnrolmentError::ValidityRange => Message::new(
                format!("登録コードの有効期間は{VALIDITY_DAYS_MIN}〜{VALIDITY_DAYS_MAX}日で指定してください。"),
                format!("Set the enrolment validity to {VALIDITY_DAYS_MIN}–{VALIDITY_DAYS_MAX} days."),
            ),
            EnrolmentError::HasValidCertificate { login_id } => Message::new(
                format!("「{login_id}」には有効な証明書があります(何も作成していません)。置き換える場合は「再発行」として登録コードを発行してください。古い証明書は新しい証明書の発行時に失効します。"),
                format!("'{login_id}' holds a valid certificate, so nothing was made. To replace it, open the enrolment as a reissue; the old certificate is revoked when the new one is issued."),
            ),
            EnrolmentError::ConfirmUnknown => Message::new(
                "確認できる発行がありません(確認済み、または別の発行に置き換わりました)。証明書ファイルを保存できていない場合は、同じ登録コードでもう一度登録してください。",
                "There is nothing to confirm with this token (already confirmed, or replaced by a newer issue). If the file was not saved, enrol again with the same code.",
            ),
            EnrolmentError::SelfRenewalOff => Message::new(
                "自分での更新は管理者が無効にしています。管理者に更新を依頼してください。",
                "Renewing by yourself is turned off by the administrator. Ask your administrator to renew the certificate.",
            ),
            EnrolmentError::NotCurrent => Message::new(
                "ブラウザが提示した証明書は現在有効な当組織の証明書ではないため、更新できません(何も発行していません)。有効期限切れ・失効済みの場合は、管理者に新しい発行を依頼してください。",
                "The certificate your browser presented is not a current certificate of this organisation, so it cannot be renewed (nothing was issued). If it expired or was revoked, ask your administrator for a new one.",
            ),
            EnrolmentError::WrongOrigin => Message::new(
                "他のページからの要求のため拒否しました(何も発行していません)。certdesk の登録ページまたは確認ページから操作してください。",
                "The request came from another page and was refused; nothing was issued. Use certdesk's enrolment or check page.",
            ),
            EnrolmentError::KeyWithHolder { login_id } => Message::new(
                format!("「{login_id}」の証明書の秘密鍵は本人のブラウザで作られたため、サーバでは証明書ファイルを作れません。紛失した場合は再発行の登録コードを発行してください。"),
                format!("The private key of '{login_id}' was made in the holder's browser, so the server cannot make a certificate file. If it was lost, open a reissue enrolment."),
            ),
            EnrolmentError::CsrSubjectFields { fields } => Message::new(
                format!("証明書要求(CSR)のサブジェクトに外部認証局がそのまま証明書に写す項目({fields})があります(何も発行していません)。CN・O・OU 以外を含めずに要求を作り直してください。"),
                format!("The request's subject has fields the external CA would copy into the certificate ({fields}); nothing was issued. Make the request again with no fields other than CN, O and OU."),
            ),
            EnrolmentError::NoEnrolment { login_id } => Message::new(
                format!("「{login_id}」には解除できる登録がありません(未使用の登録がない)。新しく登録コードを発行してください。"),
                format!("'{login_id}' has no unused enrolment to reset. Open a new enrolment instead."),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn counter() -> impl FnMut() -> u8 {
        let mut n: u8 = 0;
        move || {
            n = n.wrapping_add(37);
            n
        }
    }

    #[test]
    fn codes_are_twelve_unambiguous_characters_in_groups_of_four() {
        let code = generate_code(counter());
        assert_eq!(code.len(), 14);
        assert_eq!(code.matches('-').count(), 2);
        for c in ['0', 'O', '1', 'I'] {
            assert!(!CODE_ALPHABET.contains(&(c as u8)), "{c}");
        }
        assert_eq!(CODE_ALPHABET.len(), 32);
        let plain = normalise_code(&code).expect("its own code reads back");
        assert_eq!(plain.len(), CODE_LEN);
        assert!(plain.bytes().all(|b| CODE_ALPHABET.contains(&b)));
    }

    #[test]
    fn typed_codes_normalise_and_look_alikes_are_refused() {
        assert_eq!(
            normalise_code("abcd efgh-jklm").as_deref(),
            Some("ABCDEFGHJKLM")
        );
        assert_eq!(
            normalise_code("ＡＢＣＤ－ＥＦＧＨ－ＪＫＬＭ").as_deref(),
            Some("ABCDEFGHJKLM")
        );
        assert_eq!(
            normalise_code("ABCD-EFGH-JKL0"),
            None,
            "0 is not in the alphabet"
        );
        assert_eq!(normalise_code("ABCD-EFGH-JKL"), None);
        assert_eq!(normalise_code("ABCD-EFGH-JKLMN"), None);
        assert_eq!(normalise_code("ABCD/EFGH/JKLM"), None);
    }

    #[test]
    fn validity_is_one_to_ninety_days() {
        assert_eq!(check_validity_days(0), Err(EnrolmentError::ValidityRange));
        assert_eq!(check_validity_days(1), Ok(()));
        assert_eq!(check_validity_days(90), Ok(()));
        assert_eq!(check_validity_days(91), Err(EnrolmentError::ValidityRange));
        assert_eq!(EnrolmentSettings::default().validity_days, 14);
        assert!(EnrolmentSettings::default().self_renewal);
    }

    #[test]
    fn the_state_at_an_instant() {
        let now = datetime!(2026-12-01 00:00 UTC);
        let until = expires_at(now, 14);
        assert_eq!(until, datetime!(2026-12-15 00:00 UTC));
        assert_eq!(
            EnrolmentState::at(false, false, until, now),
            EnrolmentState::Open
        );
        assert_eq!(
            EnrolmentState::at(false, false, until, until),
            EnrolmentState::Expired
        );
        assert_eq!(
            EnrolmentState::at(false, true, until, now),
            EnrolmentState::Locked
        );
        assert_eq!(
            EnrolmentState::at(true, true, until, until),
            EnrolmentState::Used
        );
    }

    #[test]
    fn renewal_refusals_outside_the_window_are_e_cert_003() {
        let opens_on = time::macros::date!(2027 - 01 - 01);
        assert_eq!(
            SelfRenewalOffer::NotOpenYet { opens_on }.refusal(),
            Some(SelfRenewalRefusal::NotOpenYet(
                crate::lifecycle::LifecycleError::RenewalNotOpen { opens_on }
            ))
        );
        assert_eq!(SelfRenewalOffer::Offered.refusal(), None);
        assert_eq!(EnrolmentError::NotCurrent.code(), "E-ENROLL-016");
    }
}
