//! Distribution rules: how `.p12` files are protected, the passwords certdesk makes or accepts,
//! the 24-hour re-download window, and the pickup lock. No I/O; randomness is passed in.
//!
//! The window (DOMAIN.md, MaiNet 004 §6): a certificate's private key may be downloaded again
//! within 24 hours of its first download, by any channel (single file, bundle, pickup). After
//! that the key is erased and every channel answers "not created yet, or already retrieved".

use crate::error::error_codes;
use crate::lang::Message;
use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};

/// How long a key stays after its first download, and how long a prepared file lives.
pub const REDOWNLOAD_WINDOW: Duration = Duration::hours(24);
/// Wrong pickup passwords in a row that lock a certificate number.
pub const PICKUP_MAX_FAILURES: u32 = 5;
/// Length of the passwords certdesk generates.
pub const GENERATED_PASSWORD_LEN: usize = 16;
/// Characters of generated passwords: ASCII letters and digits without look-alikes
/// (0 O o, 1 I l). 56 symbols, so 16 of them carry about 93 bits.
pub const PASSWORD_ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnpqrstuvwxyz23456789";
/// Bounds of a typed password.
pub const TYPED_PASSWORD_MIN: usize = 12;
pub const TYPED_PASSWORD_MAX: usize = 128;

/// How a `.p12` file is encrypted; the person picks it for the device that imports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum P12Profile {
    /// PBES2 (PBKDF2-HMAC-SHA256, AES-256-CBC), SHA-256 MAC. Windows 10 1709+/11, Firefox,
    /// Chrome, curl/OpenSSL 3, Java, Android 13+.
    #[default]
    Modern,
    /// PBE-SHA1-3DES for key and certificates, SHA-1 MAC. Weaker; for macOS Keychain 14 and
    /// older, iOS, Windows before 10 1709, Android 12 and older.
    Compatible,
}

impl P12Profile {
    pub const ALL: [P12Profile; 2] = [P12Profile::Modern, P12Profile::Compatible];

    pub fn as_str(self) -> &'static str {
        match self {
            P12Profile::Modern => "modern",
            P12Profile::Compatible => "compatible",
        }
    }

    pub fn parse(s: &str) -> Option<P12Profile> {
        match s {
            "modern" => Some(P12Profile::Modern),
            "compatible" => Some(P12Profile::Compatible),
            _ => None,
        }
    }

    /// The name and when to choose it, in both languages.
    pub fn label(self) -> Message {
        match self {
            P12Profile::Modern => {
                Message::new("標準(AES-256・SHA-256)", "Modern (AES-256, SHA-256)")
            }
            P12Profile::Compatible => Message::new(
                "互換(3DES・SHA-1、古い端末向け)",
                "Compatible (3DES, SHA-1, for older devices)",
            ),
        }
    }
}

/// A password certdesk makes: [`GENERATED_PASSWORD_LEN`] characters of
/// [`PASSWORD_ALPHABET`], drawn without bias from `random` (rejection sampling).
pub fn generate_password(mut random: impl FnMut() -> u8) -> String {
    let n = PASSWORD_ALPHABET.len();
    // The largest multiple of n below 256: bytes at or above it are drawn again.
    let limit = 256 - (256 % n);
    let mut out = String::with_capacity(GENERATED_PASSWORD_LEN);
    while out.len() < GENERATED_PASSWORD_LEN {
        let b = usize::from(random());
        if b < limit {
            out.push(char::from(PASSWORD_ALPHABET[b % n]));
        }
    }
    out
}

error_codes! {
    /// Distribution refused (`E-DIST-NNN`): a typed `.p12` password breaks the rule, or there
    /// is nothing to hand out.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub enum DistributionError {
        /// A typed password is shorter or longer than the rule allows.
        PasswordLength = "E-DIST-001" => "the password is too short or too long",
        /// A typed password uses only one kind of character.
        PasswordOneKind = "E-DIST-001" => "the password uses only one kind of character",
        /// A typed password has control characters or characters outside the BMP.
        PasswordCharacters = "E-DIST-001" => "the password has characters that cannot be used",
        /// The user holds no valid certificate to hand out.
        NoValidCertificate { login_id: String } = "E-DIST-002" => "{login_id} holds no valid certificate",
        /// The key was erased (re-download window closed, or never kept).
        KeyGone { login_id: String } = "E-DIST-003" => "the key of {login_id} is no longer kept",
        /// A prepared download expired or never existed.
        DeliveryGone = "E-DIST-004" => "this download expired or does not exist",
        /// More users than an organisation can hold in one distribution request.
        TooManySelected { count: usize, max: usize } = "E-DIST-005" => "{count} users selected, at most {max}",
        /// A bundle of the organisation is being built.
        BundleInProgress { run: i64 } = "E-DIST-006" => "bundle run {run} is in progress",
        /// The pickup expiry setting is out of range.
        PickupExpiryRange = "E-DIST-007" => "pickup expiry must be 1 to 365 days",
    }
}

impl DistributionError {
    /// The form field the error is about: the typed password, for the password rules.
    pub fn field(&self) -> Option<&'static str> {
        match self {
            DistributionError::PasswordLength
            | DistributionError::PasswordOneKind
            | DistributionError::PasswordCharacters => Some("password"),
            DistributionError::PickupExpiryRange => Some("pickup_expiry_days"),
            DistributionError::NoValidCertificate { .. }
            | DistributionError::KeyGone { .. }
            | DistributionError::DeliveryGone
            | DistributionError::TooManySelected { .. }
            | DistributionError::BundleInProgress { .. } => None,
        }
    }

    /// What is wrong and what to do, in both languages.
    pub fn message(&self) -> Message {
        match self {
            DistributionError::PasswordLength => Message::new(
                format!("パスワードは{TYPED_PASSWORD_MIN}〜{TYPED_PASSWORD_MAX}文字にしてください。空欄にすると certdesk が安全なパスワードを作ります。"),
                format!("Use a password of {TYPED_PASSWORD_MIN} to {TYPED_PASSWORD_MAX} characters, or leave it empty and certdesk makes a strong one."),
            ),
            DistributionError::PasswordOneKind => Message::new(
                "パスワードには英字・数字・記号のうち2種類以上を混ぜてください。",
                "Mix at least two kinds of characters (letters, digits, symbols) in the password.",
            ),
            DistributionError::PasswordCharacters => Message::new(
                "パスワードに使えない文字(制御文字・絵文字など)が含まれています。",
                "The password has characters that cannot be used (control characters, emoji and the like).",
            ),
            DistributionError::NoValidCertificate { login_id } => Message::new(
                format!("「{login_id}」には有効な証明書がありません。証明書ページで発行してから配付してください。"),
                format!("'{login_id}' holds no valid certificate. Issue one on the Certificates page, then distribute it."),
            ),
            DistributionError::KeyGone { login_id } => Message::new(
                format!("「{login_id}」の秘密鍵は保管されていません(受け取り後24時間を過ぎたため消去済み、または保管なし)。再発行すると新しい証明書を配付できます。"),
                format!("The private key of '{login_id}' is no longer kept (erased 24 hours after the first download, or never kept). Reissue the certificate to hand out a new one."),
            ),
            DistributionError::DeliveryGone => Message::new(
                "このダウンロードは有効期限(24時間)が切れたか、存在しません。配付ページでもう一度作成してください。",
                "This download expired (after 24 hours) or does not exist. Prepare it again on the Distribution page.",
            ),
            DistributionError::TooManySelected { count, max } => Message::new(
                format!("{count}人が選択されています。一度に配付できるのは{max}人までです(何も作成していません)。選択を減らしてから、もう一度実行してください。"),
                format!("{count} users are selected; at most {max} can be handed out at once, so nothing was made. Select fewer users and try again."),
            ),
            DistributionError::BundleInProgress { run } => Message::new(
                format!("一括配付ファイル #{run} を作成中です(何も作成していません)。同時に実行できる一括処理は1つです。作成が終わってから、もう一度実行してください。"),
                format!("Bundle #{run} is being built, so nothing was made: one run at a time. Try again when it has finished."),
            ),
            DistributionError::PickupExpiryRange => Message::new(
                "未受取の受け取りの有効期限は1〜365日で指定してください。",
                "Set the expiry of unopened pickups to 1–365 days.",
            ),
        }
    }
}

/// Checks a typed `.p12` password: 12 to 128 characters, no control characters, nothing
/// outside the Basic Multilingual Plane (PKCS#12 importers disagree on those), at least two
/// kinds of letters / digits / symbols (any non-ASCII letter counts as a letter).
pub fn check_typed_password(password: &str) -> Result<(), DistributionError> {
    let len = password.chars().count();
    if !(TYPED_PASSWORD_MIN..=TYPED_PASSWORD_MAX).contains(&len) {
        return Err(DistributionError::PasswordLength);
    }
    if password
        .chars()
        .any(|c| c.is_control() || u32::from(c) > 0xFFFF)
    {
        return Err(DistributionError::PasswordCharacters);
    }
    let letters = password.chars().any(|c| c.is_alphabetic());
    let digits = password.chars().any(|c| c.is_ascii_digit());
    let symbols = password
        .chars()
        .any(|c| !c.is_alphanumeric() && !c.is_whitespace());
    if [letters, digits, symbols].iter().filter(|k| **k).count() < 2 {
        return Err(DistributionError::PasswordOneKind);
    }
    Ok(())
}

/// A pickup certificate number as people read it: 12 digits in groups of four.
pub fn pickup_number(mut random: impl FnMut() -> u8) -> String {
    let mut digits = String::with_capacity(14);
    while digits.chars().filter(char::is_ascii_digit).count() < 12 {
        let b = random();
        if b < 250 {
            if matches!(digits.chars().filter(char::is_ascii_digit).count(), 4 | 8) {
                digits.push('-');
            }
            digits.push(char::from(b'0' + b % 10));
        }
    }
    digits
}

/// The number as typed, reduced to its 12 digits (spaces, hyphens and full-width digits
/// allowed), or `None`.
pub fn normalise_pickup_number(typed: &str) -> Option<String> {
    let mut digits = String::new();
    for c in typed.chars() {
        match c {
            '0'..='9' => digits.push(c),
            '０'..='９' => digits.push(char::from_u32(u32::from(c) - 0xFF10 + 0x30)?),
            ' ' | '-' | '－' | '　' => {}
            _ => return None,
        }
    }
    (digits.len() == 12).then(|| format!("{}-{}-{}", &digits[..4], &digits[4..8], &digits[8..]))
}

error_codes! {
    /// Why the pickup page refused a download. The page shows it from its code alone (the
    /// download is a plain form post that comes back with `?error=CODE&left=N`).
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum PickupRefusal {
        /// Not created yet, or already retrieved (also for unknown numbers, so that numbers
        /// cannot be probed).
        Unavailable = "E-PICKUP-001" => "not created yet or already retrieved",
        /// Locked after 5 wrong passwords.
        Locked = "E-PICKUP-002" => "pickup locked",
        /// Wrong password; `left` attempts before the lock.
        WrongPassword { left: u32 } = "E-PICKUP-003" => "wrong pickup password, {left} attempts left",
    }
}

impl PickupRefusal {
    /// The refusal a code (and attempts left) stands for.
    pub fn from_code(code: &str, left: Option<u32>) -> Option<PickupRefusal> {
        [
            PickupRefusal::Unavailable,
            PickupRefusal::Locked,
            PickupRefusal::WrongPassword {
                left: left.unwrap_or(0),
            },
        ]
        .into_iter()
        .find(|refusal| refusal.code() == code)
    }

    pub fn left(self) -> Option<u32> {
        match self {
            PickupRefusal::WrongPassword { left } => Some(left),
            _ => None,
        }
    }

    pub fn message(self) -> Message {
        match self {
            PickupRefusal::Unavailable => Message::new(
                "証明書は未作成か、すでに取得済みです。入力したグループID・証明書番号を確認し、分からない場合は管理者に連絡してください。",
                "The certificate is not created yet, or was already retrieved. Check the group ID and certificate number; if unsure, contact your administrator.",
            ),
            PickupRefusal::Locked => Message::new(
                "受取パスワードを5回続けて間違えたため、この証明書番号はロックされました。管理者にロック解除を依頼してください。",
                "This certificate number is locked after 5 wrong pickup passwords. Ask your administrator to reset it.",
            ),
            PickupRefusal::WrongPassword { left } => Message::new(
                format!("受取パスワードが正しくありません。あと{left}回間違えるとロックされます。"),
                format!("The pickup password is wrong. {left} more wrong attempt(s) lock this number."),
            ),
        }
    }
}

/// Whether a key first downloaded at `first` may still be downloaded at `now`.
pub fn within_window(first: Option<OffsetDateTime>, now: OffsetDateTime) -> bool {
    match first {
        None => true,
        Some(first) => now < first + REDOWNLOAD_WINDOW,
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
    fn generated_passwords_are_16_characters_without_look_alikes() {
        let p = generate_password(counter());
        assert_eq!(p.len(), 16);
        assert!(p.bytes().all(|b| PASSWORD_ALPHABET.contains(&b)));
        for c in ['0', 'O', 'o', '1', 'I', 'l'] {
            assert!(!PASSWORD_ALPHABET.contains(&(c as u8)), "{c}");
        }
        // Bytes at or above the rejection limit are drawn again, never folded in.
        let mut bytes = vec![255u8, 250, 0].into_iter().cycle();
        let p = generate_password(move || bytes.next().unwrap_or(0));
        assert_eq!(p, "A".repeat(16));
    }

    #[test]
    fn a_pickup_refusal_is_read_back_from_its_code() {
        for code in PickupRefusal::CODES {
            let refusal = PickupRefusal::from_code(code, Some(2)).expect("a known code");
            assert_eq!(refusal.code(), *code);
        }
        assert_eq!(
            PickupRefusal::from_code("E-PICKUP-003", Some(2)),
            Some(PickupRefusal::WrongPassword { left: 2 })
        );
        assert_eq!(PickupRefusal::from_code("E-PICKUP-999", None), None);
    }

    #[test]
    fn typed_passwords_need_length_and_two_kinds() {
        assert_eq!(
            check_typed_password("Short1!"),
            Err(DistributionError::PasswordLength)
        );
        assert_eq!(
            check_typed_password(&"a1".repeat(65)),
            Err(DistributionError::PasswordLength)
        );
        assert_eq!(
            check_typed_password("abcdefghijklmn"),
            Err(DistributionError::PasswordOneKind)
        );
        assert_eq!(
            check_typed_password("123456789012"),
            Err(DistributionError::PasswordOneKind)
        );
        assert_eq!(check_typed_password("abcdefgh1234"), Ok(()));
        assert_eq!(check_typed_password("証明書パスワード2026"), Ok(()));
        assert_eq!(
            check_typed_password("abcdefgh123😀"),
            Err(DistributionError::PasswordCharacters)
        );
        assert_eq!(
            check_typed_password("abcdefgh123\n"),
            Err(DistributionError::PasswordCharacters)
        );
        assert_eq!(DistributionError::PasswordLength.code(), "E-DIST-001");
    }

    #[test]
    fn pickup_numbers_are_twelve_digits_and_typed_forms_normalise() {
        let n = pickup_number(counter());
        assert_eq!(n.len(), 14);
        assert_eq!(normalise_pickup_number(&n).as_deref(), Some(n.as_str()));
        assert_eq!(
            normalise_pickup_number("１２３４ 5678-9012").as_deref(),
            Some("1234-5678-9012")
        );
        assert_eq!(normalise_pickup_number("1234-5678-901"), None);
        assert_eq!(normalise_pickup_number("1234-5678-901x"), None);
    }

    #[test]
    fn the_window_closes_24_hours_after_the_first_download() {
        let first = datetime!(2026-11-23 10:00 UTC);
        assert!(within_window(None, first));
        assert!(within_window(
            Some(first),
            first + Duration::hours(24) - Duration::seconds(1)
        ));
        assert!(!within_window(Some(first), first + Duration::hours(24)));
    }

    #[test]
    fn profiles_round_trip_and_default_to_modern() {
        for p in P12Profile::ALL {
            assert_eq!(P12Profile::parse(p.as_str()), Some(p));
        }
        assert_eq!(P12Profile::default(), P12Profile::Modern);
        assert_eq!(P12Profile::parse("legacy"), None);
    }
}
