//! One-time passwords (ワンタイムパスワード) for masters and admins: RFC 6238 TOTP with the
//! parameters every authenticator app accepts (HMAC-SHA-1, 6 digits, 30-second steps), the
//! Base32 form of the secret, what a typed code may look like, recovery codes, the policy
//! (who must enrol) and the `E-OTP` errors. No I/O: the time is passed in as a step number.

use crate::error::error_codes;
use crate::lang::Message;
use crate::role::Role;
use serde::{Deserialize, Serialize};
use sha1::{Digest, Sha1};
use unicode_normalization::UnicodeNormalization;

/// Seconds per step.
pub const STEP_SECS: i64 = 30;
/// Digits of a code.
pub const DIGITS: u32 = 6;
/// Bytes of a secret (160 bits, RFC 4226's recommendation).
pub const SECRET_BYTES: usize = 20;
/// Steps either side of the expected one a code may come from (clock skew).
pub const SKEW_STEPS: i64 = 1;
/// Steps either side of now searched for a drifted pair (±10 minutes).
pub const RESYNC_STEPS: i64 = 20;
/// Recovery codes made at enrolment.
pub const RECOVERY_CODES: usize = 10;
/// Letters of a recovery code (shown as two groups of five).
pub const RECOVERY_LEN: usize = 10;
/// The letters recovery codes are made of: no 0/O, 1/I/L, so they read back without doubt.
pub const RECOVERY_ALPHABET: &[u8; 31] = b"23456789ABCDEFGHJKMNPQRSTUVWXYZ";
/// The step-up window's default, in minutes.
pub const DEFAULT_STEP_UP_MINUTES: u32 = 10;
/// The step-up window may be set from 1 minute to 12 hours (a session's longest life).
pub const STEP_UP_MINUTES: std::ops::RangeInclusive<u32> = 1..=720;

/// The step that contains the Unix time `unix_secs`.
pub fn step_at(unix_secs: i64) -> i64 {
    unix_secs.div_euclid(STEP_SECS)
}

fn hmac_sha1(key: &[u8], message: &[u8]) -> [u8; 20] {
    const BLOCK: usize = 64;
    let mut block = [0u8; BLOCK];
    if key.len() > BLOCK {
        block[..20].copy_from_slice(&Sha1::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let mut inner = Sha1::new();
    inner.update(block.map(|b| b ^ 0x36));
    inner.update(message);
    let mut outer = Sha1::new();
    outer.update(block.map(|b| b ^ 0x5c));
    outer.update(inner.finalize());
    outer.finalize().into()
}

/// RFC 4226 HOTP with `digits` digits, as a zero-padded string.
pub fn hotp(secret: &[u8], counter: u64, digits: u32) -> String {
    let mac = hmac_sha1(secret, &counter.to_be_bytes());
    let offset = usize::from(mac[19] & 0x0f);
    let binary = (u32::from(mac[offset]) & 0x7f) << 24
        | u32::from(mac[offset + 1]) << 16
        | u32::from(mac[offset + 2]) << 8
        | u32::from(mac[offset + 3]);
    let value = binary % 10u32.pow(digits);
    format!("{value:0width$}", width = digits as usize)
}

/// The 6-digit code of `step` (steps before 1970 have none).
pub fn code_at(secret: &[u8], step: i64) -> Option<String> {
    u64::try_from(step).ok().map(|s| hotp(secret, s, DIGITS))
}

/// The step in `expected - SKEW_STEPS ..= expected + SKEW_STEPS` whose code is `code`, the
/// nearest first. Constant work whatever matches.
pub fn matching_step(secret: &[u8], code: &Code, expected: i64) -> Option<i64> {
    let mut found = None;
    for delta in [0, -1, 1] {
        let step = expected + delta;
        let same =
            code_at(secret, step).is_some_and(|c| constant_eq(c.as_bytes(), code.0.as_bytes()));
        if same && found.is_none() {
            found = Some(step);
        }
    }
    found
}

/// The step `s` within `now_step ± RESYNC_STEPS` whose code is `first` and whose next step's
/// code is `second` (the time-sync pair), if exactly one fits: the pair's second step.
pub fn resync_step(secret: &[u8], first: &Code, second: &Code, now_step: i64) -> Option<i64> {
    let hits: Vec<i64> = (now_step - RESYNC_STEPS..=now_step + RESYNC_STEPS)
        .filter(|&s| {
            code_at(secret, s).is_some_and(|c| c == first.0)
                && code_at(secret, s + 1).is_some_and(|c| c == second.0)
        })
        .map(|s| s + 1)
        .collect();
    (hits.len() == 1).then(|| hits[0])
}

fn constant_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A typed code: exactly 6 ASCII digits after normalising (full-width digits become ASCII;
/// spaces and hyphens are dropped).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Code(String);

impl Code {
    pub fn parse(typed: &str) -> Result<Code, OtpError> {
        let text: String = typed
            .nfkc()
            .filter(|c| !c.is_whitespace() && *c != '-')
            .collect();
        if text.len() == DIGITS as usize && text.bytes().all(|b| b.is_ascii_digit()) {
            Ok(Code(text))
        } else {
            Err(OtpError::Malformed)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What was typed in the code field at sign-in: a code, or a recovery code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecondFactor {
    Code(Code),
    /// A recovery code, normalised (upper case, no separators).
    Recovery(String),
}

impl SecondFactor {
    pub fn parse(typed: &str) -> Result<SecondFactor, OtpError> {
        if let Ok(code) = Code::parse(typed) {
            return Ok(SecondFactor::Code(code));
        }
        normalise_recovery(typed)
            .map(SecondFactor::Recovery)
            .ok_or(OtpError::Malformed)
    }
}

/// A recovery code as stored (upper case, no hyphen or spaces), if it can be one.
pub fn normalise_recovery(typed: &str) -> Option<String> {
    let text: String = typed
        .nfkc()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .flat_map(char::to_uppercase)
        .collect();
    (text.len() == RECOVERY_LEN && text.bytes().all(|b| RECOVERY_ALPHABET.contains(&b)))
        .then_some(text)
}

/// A recovery code made from `RECOVERY_LEN` random bytes, shown as `XXXXX-XXXXX`.
pub fn recovery_code(random: &[u8; RECOVERY_LEN]) -> String {
    let letters: String = random
        .iter()
        .map(|b| char::from(RECOVERY_ALPHABET[usize::from(b % 31)]))
        .collect();
    format!("{}-{}", &letters[..5], &letters[5..])
}

const BASE32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// RFC 4648 Base32 without padding (what authenticator apps take).
pub fn base32_encode(bytes: &[u8]) -> String {
    let mut out = String::new();
    let (mut buffer, mut bits) = (0u32, 0u32);
    for &b in bytes {
        buffer = (buffer << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(BASE32[((buffer >> bits) & 31) as usize]));
        }
    }
    if bits > 0 {
        out.push(char::from(BASE32[((buffer << (5 - bits)) & 31) as usize]));
    }
    out
}

/// Decodes Base32 (case, spaces and padding ignored); `None` for any other letter.
pub fn base32_decode(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let (mut buffer, mut bits) = (0u32, 0u32);
    for c in text.bytes().filter(|c| !matches!(c, b' ' | b'=')) {
        let value = BASE32.iter().position(|&x| x == c.to_ascii_uppercase())? as u32;
        buffer = (buffer << 5) | value;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
        }
    }
    Some(out)
}

/// The `otpauth://` URI an authenticator app reads from the QR code.
pub fn otpauth_uri(issuer: &str, account: &str, secret: &[u8]) -> String {
    fn esc(s: &str) -> String {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => {
                    char::from(b).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect()
    }
    format!(
        "otpauth://totp/{}:{}?secret={}&issuer={}&algorithm=SHA1&digits={DIGITS}&period={STEP_SECS}",
        esc(issuer),
        esc(account),
        base32_encode(secret),
        esc(issuer)
    )
}

/// Who must use a one-time password (a master setting).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OtpPolicy {
    /// Anyone may enrol; nobody must.
    #[default]
    Optional,
    /// Masters must enrol.
    Masters,
    /// Masters and admins must enrol.
    MastersAndAdmins,
}

impl OtpPolicy {
    pub const ALL: [OtpPolicy; 3] = [
        OtpPolicy::Optional,
        OtpPolicy::Masters,
        OtpPolicy::MastersAndAdmins,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            OtpPolicy::Optional => "optional",
            OtpPolicy::Masters => "masters",
            OtpPolicy::MastersAndAdmins => "masters_and_admins",
        }
    }

    pub fn parse(text: &str) -> Option<OtpPolicy> {
        OtpPolicy::ALL.into_iter().find(|p| p.as_str() == text)
    }

    /// True if a user of `role` must have a one-time password.
    pub fn requires(self, role: Role) -> bool {
        match self {
            OtpPolicy::Optional => false,
            OtpPolicy::Masters => role == Role::Master,
            OtpPolicy::MastersAndAdmins => matches!(role, Role::Master | Role::Admin),
        }
    }

    pub fn label(self) -> Message {
        match self {
            OtpPolicy::Optional => {
                Message::new("任意(利用者が選ぶ)", "Optional (each user chooses)")
            }
            OtpPolicy::Masters => Message::new("マスターユーザは必須", "Required for masters"),
            OtpPolicy::MastersAndAdmins => Message::new(
                "マスターユーザと管理者ユーザは必須",
                "Required for masters and admins",
            ),
        }
    }
}

/// What the sign-in asks next after a correct password.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SignInNext {
    /// Signed in.
    Done,
    /// The one-time password (or a recovery code) is asked next.
    Code,
    /// The policy requires a one-time password and the user has none: enrolment first.
    Enrol,
}

error_codes! {
    /// One-time password refused (`E-OTP-NNN`). Nothing changes on a refusal, except that a
    /// wrong code counts toward the temporary lock like a wrong password.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub enum OtpError {
        /// The code matches neither the current step nor the one before or after.
        WrongCode = "E-OTP-001" => "wrong or expired one-time password",
        /// Not 6 digits (nor a recovery code where one is accepted).
        Malformed = "E-OTP-002" => "a one-time password is 6 digits",
        /// This code (or an older one) was already used.
        Replayed = "E-OTP-003" => "one-time password already used",
        /// The password was right; the one-time password is asked before anything else.
        CodeRequired = "E-OTP-004" => "enter the one-time password first",
        /// The policy requires a one-time password and the user has none yet.
        EnrolmentRequired = "E-OTP-005" => "set up a one-time password first",
        /// A sensitive action needs a code checked within the step-up window.
        StepUpRequired { minutes: u32 } = "E-OTP-006" => "a fresh one-time password is needed (older than {minutes} min)",
        /// The user has no one-time password (bank guides: G013e/G014e).
        NotEnrolled = "E-OTP-007" => "no one-time password is registered",
        /// Confirming an enrolment that was not started (or was already completed).
        NoEnrolmentStarted = "E-OTP-008" => "no enrolment in progress",
        /// The time-sync pair matches nowhere within ±10 minutes.
        PairNotFound = "E-OTP-009" => "the two codes match nowhere within 10 minutes",
        /// A recovery code that is unknown or already used.
        WrongRecoveryCode = "E-OTP-010" => "wrong or used recovery code",
        /// The code step without a password step before it.
        NoSignInPending = "E-OTP-011" => "no sign-in waiting for a one-time password",
        /// A step-up window outside 1 to 720 minutes, or an unknown policy.
        Setting { field: &'static str } = "E-OTP-012" => "invalid one-time password setting {field}",
    }
}

impl OtpError {
    /// The form field the error is about.
    pub fn field(&self) -> Option<&'static str> {
        match self {
            OtpError::WrongCode | OtpError::Malformed | OtpError::Replayed => Some("code"),
            OtpError::WrongRecoveryCode => Some("code"),
            OtpError::PairNotFound => Some("next_code"),
            OtpError::Setting { field } => Some(field),
            _ => None,
        }
    }

    /// What happened and what to do, in both languages.
    pub fn message(&self) -> Message {
        match self {
            OtpError::WrongCode => Message::new(
                "ワンタイムパスワードが正しくないか、有効期限(30秒)が切れています。認証アプリに表示されている最新の6桁を入力してください。5回続けて間違えると一時的に閉塞されます。端末の時計がずれている場合は「時刻同期」を行ってください。",
                "The one-time password is wrong or expired (each lasts 30 seconds). Enter the latest 6 digits shown by your authenticator app. After 5 wrong entries in a row the account is locked for a while. If the device's clock is off, use time sync.",
            ),
            OtpError::Malformed => Message::new(
                "ワンタイムパスワードは6桁の数字で入力してください(全角数字も使えます)。リカバリーコードは「XXXXX-XXXXX」の10文字です。",
                "Enter the one-time password as 6 digits (full-width digits are fine). A recovery code has 10 letters, like XXXXX-XXXXX.",
            ),
            OtpError::Replayed => Message::new(
                "このワンタイムパスワードは既に使われています。認証アプリに次の6桁が表示されるまで待ってから入力してください。",
                "This one-time password was already used. Wait until your authenticator app shows the next 6 digits, then enter those.",
            ),
            OtpError::CodeRequired => Message::new(
                "パスワードは確認済みです。続けてワンタイムパスワードを入力してください(サインインページ)。",
                "Your password was accepted. Enter your one-time password next (on the sign-in page).",
            ),
            OtpError::EnrolmentRequired => Message::new(
                "ワンタイムパスワードの登録が必須になっています。「ワンタイムパスワード」ページで登録を済ませてから操作してください。",
                "A one-time password is required for your role. Set it up on the One-time password page first.",
            ),
            OtpError::StepUpRequired { minutes } => Message::new(
                format!("この操作には、{minutes}分以内に確認したワンタイムパスワードが必要です。表示される画面でワンタイムパスワードを入力すると、操作がそのまま続きます。"),
                format!("This action needs a one-time password checked within the last {minutes} minutes. Enter your one-time password in the dialog and the action continues."),
            ),
            OtpError::NotEnrolled => Message::new(
                "ワンタイムパスワードが登録されていません。「ワンタイムパスワード」ページで登録してください。",
                "No one-time password is registered. Set one up on the One-time password page.",
            ),
            OtpError::NoEnrolmentStarted => Message::new(
                "登録手続きが始まっていません(または既に完了しています)。「登録を始める」からやり直してください。",
                "No enrolment is in progress (or it was already completed). Start the enrolment again.",
            ),
            OtpError::PairNotFound => Message::new(
                "入力した2つのワンタイムパスワードは、前後10分の範囲で連続する組み合わせになりませんでした(何も変更していません)。表示中の6桁と、次に表示される6桁を続けて入力してください。それでも合わない場合は、マスターユーザにワンタイムパスワードの再登録(リセット)を依頼してください。",
                "The two one-time passwords are not consecutive codes anywhere within 10 minutes; nothing was changed. Enter the code shown now and the next one the app shows. If it still fails, ask a master user to reset your one-time password.",
            ),
            OtpError::WrongRecoveryCode => Message::new(
                "リカバリーコードが正しくないか、既に使われています。印刷したリカバリーコードのうち未使用のものを入力してください。5回続けて間違えると一時的に閉塞されます。",
                "The recovery code is wrong or was already used. Enter an unused code from your printed list. After 5 wrong entries in a row the account is locked for a while.",
            ),
            OtpError::NoSignInPending => Message::new(
                "ワンタイムパスワードを待っているサインインがありません(時間切れの可能性があります)。ログインIDとパスワードからやり直してください。",
                "No sign-in is waiting for a one-time password (it may have timed out). Start again with your login ID and password.",
            ),
            OtpError::Setting { .. } => Message::new(
                format!("設定が正しくありません。要求方針を選び、再確認の間隔は{}〜{}分で入力してください。", STEP_UP_MINUTES.start(), STEP_UP_MINUTES.end()),
                format!("The setting is not valid. Choose a policy and enter a re-check interval of {} to {} minutes.", STEP_UP_MINUTES.start(), STEP_UP_MINUTES.end()),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RFC_SECRET: &[u8] = b"12345678901234567890";

    #[test]
    fn rfc_6238_appendix_b_sha1_vectors() {
        let vectors: [(i64, &str); 6] = [
            (59, "94287082"),
            (1_111_111_109, "07081804"),
            (1_111_111_111, "14050471"),
            (1_234_567_890, "89005924"),
            (2_000_000_000, "69279037"),
            (20_000_000_000, "65353130"),
        ];
        for (t, expected) in vectors {
            let step = u64::try_from(step_at(t)).expect("after 1970");
            assert_eq!(hotp(RFC_SECRET, step, 8), expected, "T = {t}");
            assert_eq!(
                code_at(RFC_SECRET, step_at(t)).expect("code"),
                expected[2..],
                "6 digits at T = {t}"
            );
        }
    }

    #[test]
    fn rfc_4226_appendix_d_hotp_vectors() {
        let expected = [
            "755224", "287082", "359152", "969429", "338314", "254676", "287922", "162583",
            "399871", "520489",
        ];
        for (counter, code) in expected.iter().enumerate() {
            assert_eq!(hotp(RFC_SECRET, counter as u64, 6), *code);
        }
    }

    #[test]
    fn base32_round_trips_and_matches_rfc_4648() {
        assert_eq!(base32_encode(b"foobar"), "MZXW6YTBOI");
        assert_eq!(
            base32_encode(RFC_SECRET),
            "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
        );
        assert_eq!(
            base32_decode("gezd gnbv gy3t qojq gezd gnbv gy3t qojq").expect("decodes"),
            RFC_SECRET
        );
        assert_eq!(
            base32_decode("MZXW6YTBOI======").expect("padding"),
            b"foobar"
        );
        assert_eq!(base32_decode("MZ1"), None);
    }

    #[test]
    fn codes_are_6_digits_and_full_width_digits_are_normalised() {
        assert_eq!(
            Code::parse("１２３４５６").expect("full width").as_str(),
            "123456"
        );
        assert_eq!(Code::parse(" 123 456 ").expect("spaces").as_str(), "123456");
        assert_eq!(Code::parse("123-456").expect("hyphen").as_str(), "123456");
        for bad in ["12345", "1234567", "12345a", "", "１２３４５"] {
            assert_eq!(Code::parse(bad), Err(OtpError::Malformed), "{bad:?}");
        }
    }

    #[test]
    fn a_code_matches_its_step_and_one_step_either_side_only() {
        let now = step_at(1_700_000_000);
        for delta in -3i64..=3 {
            let code = Code::parse(&code_at(RFC_SECRET, now + delta).expect("code")).expect("6");
            let found = matching_step(RFC_SECRET, &code, now);
            if delta.abs() <= SKEW_STEPS {
                assert_eq!(found, Some(now + delta), "delta {delta}");
            } else {
                assert_eq!(found, None, "delta {delta}");
            }
        }
    }

    #[test]
    fn a_drifted_pair_is_found_within_ten_minutes_and_not_beyond() {
        let now = step_at(1_700_000_000);
        let pair = |s: i64| {
            (
                Code::parse(&code_at(RFC_SECRET, s).expect("c")).expect("6"),
                Code::parse(&code_at(RFC_SECRET, s + 1).expect("c")).expect("6"),
            )
        };
        let (a, b) = pair(now + 14);
        assert_eq!(resync_step(RFC_SECRET, &a, &b, now), Some(now + 15));
        let (a, b) = pair(now - 20);
        assert_eq!(resync_step(RFC_SECRET, &a, &b, now), Some(now - 19));
        let (a, b) = pair(now + 40);
        assert_eq!(resync_step(RFC_SECRET, &a, &b, now), None);
        let (a, _) = pair(now);
        assert_eq!(
            resync_step(RFC_SECRET, &a, &a, now),
            None,
            "not consecutive"
        );
    }

    #[test]
    fn recovery_codes_read_back_in_any_case_and_width() {
        let code = recovery_code(&[0, 1, 2, 3, 4, 5, 6, 7, 8, 200]);
        assert_eq!(code.len(), 11);
        let typed = code.to_lowercase();
        assert_eq!(
            normalise_recovery(&typed).expect("valid"),
            code.replace('-', "")
        );
        assert!(matches!(
            SecondFactor::parse(&code),
            Ok(SecondFactor::Recovery(_))
        ));
        assert!(matches!(
            SecondFactor::parse("０１２３４５"),
            Ok(SecondFactor::Code(_))
        ));
        assert_eq!(SecondFactor::parse("short"), Err(OtpError::Malformed));
    }

    #[test]
    fn the_policy_says_who_must_enrol() {
        assert!(!OtpPolicy::Optional.requires(Role::Master));
        assert!(OtpPolicy::Masters.requires(Role::Master));
        assert!(!OtpPolicy::Masters.requires(Role::Admin));
        assert!(OtpPolicy::MastersAndAdmins.requires(Role::Admin));
        assert!(!OtpPolicy::MastersAndAdmins.requires(Role::General));
        for p in OtpPolicy::ALL {
            assert_eq!(OtpPolicy::parse(p.as_str()), Some(p));
        }
    }

    #[test]
    fn the_otpauth_uri_names_issuer_account_and_parameters() {
        assert_eq!(
            otpauth_uri("certdesk G0001", "master01", b"foobar"),
            "otpauth://totp/certdesk%20G0001:master01?secret=MZXW6YTBOI&issuer=certdesk%20G0001&algorithm=SHA1&digits=6&period=30"
        );
    }
}
