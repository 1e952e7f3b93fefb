//! Renewal notices and their e-mail: the notification settings and their rules, which
//! threshold a certificate has reached, when the daily job runs, how failed mail is retried,
//! the text of a notice mail, and the coded errors of sending (`E-MAIL-*`) and of the settings
//! (`E-NOTICE-*`). No I/O here: the backend stores, schedules and sends.

use crate::error::error_codes;
use crate::ids::Email;
use crate::lang::Message;
use crate::lifecycle::{CertificateFacts, CertificateState};
use crate::profile::JST;
use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime, Time, UtcOffset};

/// A failed mail is tried at most this many times, then shown as given up.
pub const MAX_MAIL_ATTEMPTS: u32 = 8;

/// How the console talks to the SMTP server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SmtpSecurity {
    /// Plain SMTP upgraded with STARTTLS (port 587): the default.
    StartTls,
    /// TLS from the first byte (SMTPS, port 465).
    Tls,
    /// No encryption (a relay on the same machine or in a closed network only).
    None,
}

impl SmtpSecurity {
    pub fn as_str(self) -> &'static str {
        match self {
            SmtpSecurity::StartTls => "starttls",
            SmtpSecurity::Tls => "tls",
            SmtpSecurity::None => "none",
        }
    }

    pub fn parse(s: &str) -> Option<SmtpSecurity> {
        match s {
            "starttls" => Some(SmtpSecurity::StartTls),
            "tls" => Some(SmtpSecurity::Tls),
            "none" => Some(SmtpSecurity::None),
            _ => None,
        }
    }
}

/// The organisation's notification settings (Settings → Notifications). The SMTP password is
/// not part of it: it is stored sealed and never leaves the server; `smtp_password_set` says
/// whether there is one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotificationSettings {
    /// Send notices by e-mail (the dashboard shows them either way).
    pub email_enabled: bool,
    /// First notice, days before expiry (default 40: when renewal opens).
    pub first_days: u32,
    /// Second notice, days before expiry (default 7).
    pub second_days: u32,
    /// Mail the certificate's own user.
    pub notify_user: bool,
    /// Mail every master and admin user (in copy).
    pub notify_admins: bool,
    /// More addresses (comma, space or line separated), in copy.
    pub extra_recipients: String,
    /// Hour of the day (JST, 0–23) the daily job runs; it also runs at start-up.
    pub daily_hour: u8,
    pub smtp_host: String,
    pub smtp_port: u16,
    pub smtp_security: SmtpSecurity,
    pub smtp_username: String,
    pub smtp_password_set: bool,
    /// The From address of notices.
    pub mail_from: String,
}

impl Default for NotificationSettings {
    fn default() -> Self {
        NotificationSettings {
            email_enabled: true,
            first_days: 40,
            second_days: 7,
            notify_user: true,
            notify_admins: true,
            extra_recipients: String::new(),
            daily_hour: 8,
            smtp_host: String::new(),
            smtp_port: 587,
            smtp_security: SmtpSecurity::StartTls,
            smtp_username: String::new(),
            smtp_password_set: false,
            mail_from: String::new(),
        }
    }
}

error_codes! {
    /// A notification setting that breaks its rule (`E-NOTICE-NNN`), with the field it concerns.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub enum NoticeSettingsError {
        Thresholds = "E-NOTICE-001" => "thresholds must be 1 to 365 days, the first larger than the second",
        Hour = "E-NOTICE-002" => "the hour must be 0 to 23",
        Recipient { address: String } = "E-NOTICE-003" => "{address} is not an e-mail address",
        Port = "E-NOTICE-004" => "the SMTP port must be 1 to 65535",
        From = "E-NOTICE-005" => "the sender address is missing or wrong",
        Host = "E-NOTICE-006" => "the SMTP host name is wrong",
        /// The SMTP host is a link-local or cloud metadata address or name.
        ForbiddenHost { host: String } = "E-NOTICE-007" => "{host} is a link-local or cloud metadata address",
        /// A test mail to an address other than the signed-in user's own.
        TestMailRecipient = "E-NOTICE-008" => "a test mail goes only to your own address",
    }
}

impl NoticeSettingsError {
    /// The form field's name.
    pub fn field(&self) -> &'static str {
        match self {
            NoticeSettingsError::Thresholds => "first_days",
            NoticeSettingsError::Hour => "daily_hour",
            NoticeSettingsError::Recipient { .. } => "extra_recipients",
            NoticeSettingsError::Port => "smtp_port",
            NoticeSettingsError::From => "mail_from",
            NoticeSettingsError::Host | NoticeSettingsError::ForbiddenHost { .. } => "smtp_host",
            NoticeSettingsError::TestMailRecipient => "to",
        }
    }

    pub fn message(&self) -> Message {
        match self {
            NoticeSettingsError::Thresholds => Message::new(
                "通知日数は1〜365日で、1回目を2回目より大きくしてください(標準は40日と7日)。",
                "Enter 1 to 365 days for each notice, the first larger than the second (40 and 7 are the usual).",
            ),
            NoticeSettingsError::Hour => Message::new(
                "実行時刻は0〜23時(日本時間)で入力してください。",
                "Enter an hour from 0 to 23 (Japan time).",
            ),
            NoticeSettingsError::Recipient { address } => Message::new(
                format!("「{address}」はメールアドレスとして正しくありません。カンマ区切りで入力してください。"),
                format!("'{address}' is not an e-mail address. Separate addresses with commas."),
            ),
            NoticeSettingsError::Port => Message::new(
                "ポート番号は1〜65535で入力してください(STARTTLSは通常587、TLSは465)。",
                "Enter a port from 1 to 65535 (587 is usual for STARTTLS, 465 for TLS).",
            ),
            NoticeSettingsError::From => Message::new(
                "差出人のメールアドレスを正しく入力してください(SMTPサーバを設定する場合は必須です)。",
                "Enter a valid sender address (required once an SMTP server is set).",
            ),
            NoticeSettingsError::Host => Message::new(
                "SMTPサーバのホスト名を正しく入力してください(空白は使えません)。",
                "Enter the SMTP server's host name (no spaces).",
            ),
            NoticeSettingsError::ForbiddenHost { host } => Message::new(
                format!("「{host}」はリンクローカル(169.254.0.0/16、fe80::/10)またはクラウドのメタデータ用のアドレスで、SMTPサーバには使えません。メールサーバのホスト名かアドレスを確認してください。"),
                format!("'{host}' is a link-local (169.254.0.0/16, fe80::/10) or cloud metadata address and cannot be the SMTP server. Check the mail server's host name or address."),
            ),
            NoticeSettingsError::TestMailRecipient => Message::new(
                "テストメールはサインインしている自分のメールアドレスにだけ送れます。宛先を空欄にして送ってください(自分のアドレスは利用者ページで変えられます)。",
                "A test mail goes only to your own address. Leave the recipient empty and send again (your address can be changed on the Users page).",
            ),
        }
    }
}

impl NotificationSettings {
    /// Checks every field; the first broken rule is returned.
    pub fn validate(&self) -> Result<(), NoticeSettingsError> {
        let days = 1..=365;
        if !days.contains(&self.first_days)
            || !days.contains(&self.second_days)
            || self.first_days <= self.second_days
        {
            return Err(NoticeSettingsError::Thresholds);
        }
        if self.daily_hour > 23 {
            return Err(NoticeSettingsError::Hour);
        }
        self.extra_recipient_list()?;
        let host = self.smtp_host.trim();
        if host.len() > 253 || host.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(NoticeSettingsError::Host);
        }
        if crate::external_ca::is_link_local_or_metadata_text(host) {
            return Err(NoticeSettingsError::ForbiddenHost {
                host: host.to_string(),
            });
        }
        if self.smtp_port == 0 {
            return Err(NoticeSettingsError::Port);
        }
        let from = self.mail_from.trim();
        if (!host.is_empty() || !from.is_empty()) && Email::parse(from).is_err() {
            return Err(NoticeSettingsError::From);
        }
        Ok(())
    }

    /// The extra addresses, parsed.
    pub fn extra_recipient_list(&self) -> Result<Vec<String>, NoticeSettingsError> {
        self.extra_recipients
            .split([',', ';', ' ', '\n', '\r', '\t', '、'])
            .map(str::trim)
            .filter(|a| !a.is_empty())
            .map(|a| {
                Email::parse(a)
                    .map(|e| e.as_str().to_string())
                    .map_err(|_| NoticeSettingsError::Recipient {
                        address: a.to_string(),
                    })
            })
            .collect()
    }

    /// The thresholds, larger first.
    pub fn thresholds(&self) -> [u32; 2] {
        [self.first_days, self.second_days]
    }

    /// True once a host and a sender are set.
    pub fn smtp_configured(&self) -> bool {
        !self.smtp_host.trim().is_empty() && !self.mail_from.trim().is_empty()
    }
}

/// The threshold a notice is due for at `now`: the smallest threshold (in days before
/// `not_after`) that a valid, unexpired certificate has reached. A certificate first seen
/// inside both thresholds gets only the nearer notice, so nobody gets two mails at once.
/// The caller records a notice only if none exists for this certificate and threshold.
pub fn due_threshold(
    cert: &CertificateFacts,
    thresholds: &[u32],
    now: OffsetDateTime,
) -> Option<u32> {
    if cert.state_at(now) != CertificateState::Valid {
        return None;
    }
    thresholds
        .iter()
        .copied()
        .filter(|&t| now >= cert.not_after - Duration::days(i64::from(t)))
        .min()
}

/// The next daily run after `now`: `hour`:00 in `offset` (JST for the console).
pub fn next_daily_run(now: OffsetDateTime, hour: u8, offset: UtcOffset) -> OffsetDateTime {
    let local = now.to_offset(offset);
    let at = Time::from_hms(hour.min(23), 0, 0).unwrap_or(Time::MIDNIGHT);
    let today = local.replace_time(at);
    if today > local {
        today
    } else {
        today + Duration::days(1)
    }
}

/// How long to wait before the next try after `attempts` failed tries, or `None` to give up.
pub fn retry_delay(attempts: u32) -> Option<Duration> {
    let minutes = match attempts {
        0 | 1 => 1,
        2 => 5,
        3 => 15,
        4 => 60,
        5 => 180,
        6 => 360,
        7 => 720,
        _ => return None,
    };
    Some(Duration::minutes(minutes))
}

/// A notice mail: subject and plain-text body, Japanese with English below.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoticeMail {
    pub subject: String,
    pub body: String,
}

/// What a notice mail says about one certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoticeFacts<'a> {
    pub organisation: &'a str,
    pub login_id: &'a str,
    pub name: &'a str,
    pub serial: &'a str,
    pub not_after: OffsetDateTime,
    pub threshold_days: u32,
    pub console_url: &'a str,
}

/// `YYYY-MM-DD hh:mm` in JST.
pub fn jst_minute(at: OffsetDateTime) -> String {
    let t = at.to_offset(JST);
    format!("{} {:02}:{:02}", t.date(), t.hour(), t.minute())
}

/// The text of a renewal notice.
pub fn notice_mail(n: &NoticeFacts<'_>, now: OffsetDateTime) -> NoticeMail {
    let expiry = jst_minute(n.not_after);
    let days = (n.not_after - now).whole_days().max(0);
    let t = n.threshold_days;
    let (login, name, org, serial, url) =
        (n.login_id, n.name, n.organisation, n.serial, n.console_url);
    let subject = format!(
        "[certdesk] 電子証明書の有効期限まで{t}日以内です: {login} / Certificate expires within {t} days: {login}"
    );
    let body = format!(
        "{name} 様\n\
         \n\
         {org} のインターネットバンキング用電子証明書(ログインID {login})の有効期限が近づいています。\n\
         \n\
         有効期限: {expiry} (日本時間、あと{days}日)\n\
         シリアル番号: {serial}\n\
         \n\
         有効期限の前に証明書を更新してください。マスターユーザまたは管理者ユーザが certdesk の\n\
         ダッシュボードの「更新期間内の証明書をすべて更新」、または証明書ページの「更新」で更新できます。\n\
         有効期限を過ぎた証明書は更新できず、新しい証明書の発行が必要になります。\n\
         更新後は、古い証明書をPCから削除してください。\n\
         \n\
         certdesk: {url}\n\
         \n\
         ----\n\
         \n\
         Dear {name},\n\
         \n\
         The client certificate for business internet banking of {org} (login ID {login}) expires soon.\n\
         \n\
         Expires: {expiry} (Japan time, {days} days left)\n\
         Serial: {serial}\n\
         \n\
         Please renew it before it expires. A master or admin user renews it in certdesk with\n\
         \"Renew all in the window\" on the dashboard, or \"Renew\" on the Certificates page.\n\
         An expired certificate cannot be renewed; a new one must be issued instead.\n\
         After the renewal, delete the old certificate from the PC.\n\
         \n\
         certdesk: {url}\n"
    );
    NoticeMail { subject, body }
}

/// The test mail of Settings → Notifications.
pub fn test_mail(organisation: &str, now: OffsetDateTime) -> NoticeMail {
    let at = jst_minute(now);
    NoticeMail {
        subject: "[certdesk] テストメール / Test mail".to_string(),
        body: format!(
            "{organisation} の certdesk からのテストメールです({at} 日本時間)。\n\
             このメールが届いていれば、証明書の期限通知もこの設定で届きます。\n\
             \n\
             ----\n\
             \n\
             This is a test mail from certdesk of {organisation} ({at} Japan time).\n\
             If it arrived, renewal notices will arrive with these settings too.\n"
        ),
    }
}

error_codes! {
    /// Sending a mail failed (`E-MAIL-NNN`). Shown on the dashboard for failed notices and in
    /// Settings for the test mail; the server's detail goes to the log only.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    pub enum MailError {
        Connect { server: String } = "E-MAIL-001" => "cannot connect to {server}",
        Auth = "E-MAIL-002" => "the SMTP server refused the user name or password",
        RecipientRejected { address: String } = "E-MAIL-003" => "the SMTP server refused the recipient {address}",
        Tls = "E-MAIL-004" => "TLS with the SMTP server failed",
        Refused { reply: String } = "E-MAIL-005" => "the SMTP server refused the message (reply {reply})",
        NotConfigured = "E-MAIL-006" => "no SMTP server is set",
        BadAddress { address: String } = "E-MAIL-007" => "{address} is not a usable address",
    }
}

impl MailError {
    /// Errors that another try cannot cure (the settings or the address must change first).
    pub fn is_permanent(&self) -> bool {
        matches!(
            self,
            MailError::RecipientRejected { .. } | MailError::BadAddress { .. }
        )
    }

    pub fn message(&self) -> Message {
        match self {
            MailError::Connect { server } => Message::new(
                format!("SMTPサーバ {server} に接続できませんでした。ホスト名・ポート番号と、ファイアウォールやプロキシの設定を確認してください。"),
                format!("Could not connect to the SMTP server {server}. Check host and port, and any firewall or proxy in between."),
            ),
            MailError::Auth => Message::new(
                "SMTPサーバでの認証に失敗しました。設定のユーザ名とパスワードを確認してください。",
                "The SMTP server refused the user name or password. Check them in Settings.",
            ),
            MailError::RecipientRejected { address } => Message::new(
                format!("SMTPサーバが宛先 {address} を受け付けませんでした。利用者のメールアドレスを確認してください。"),
                format!("The SMTP server refused the recipient {address}. Check the user's e-mail address."),
            ),
            MailError::Tls => Message::new(
                "SMTPサーバとのTLS接続に失敗しました。暗号化の方式(STARTTLS/TLS)とポート番号、サーバ証明書を確認してください。",
                "TLS with the SMTP server failed. Check the security setting (STARTTLS/TLS), the port and the server's certificate.",
            ),
            MailError::Refused { reply } => Message::new(
                format!("SMTPサーバがメールを受け付けませんでした(応答 {reply})。差出人アドレスとサーバの送信制限を確認してください。"),
                format!("The SMTP server refused the mail (reply {reply}). Check the sender address and the server's sending limits."),
            ),
            MailError::NotConfigured => Message::new(
                "SMTPサーバが設定されていません。設定ページの「通知」でSMTPサーバと差出人を設定してください。",
                "No SMTP server is set. Set the SMTP server and sender in Settings → Notifications.",
            ),
            MailError::BadAddress { address } => Message::new(
                format!("「{address}」はメールの宛先・差出人として使えません。アドレスを確認してください。"),
                format!("'{address}' cannot be used as a mail address. Check it."),
            ),
        }
    }
}

/// A recorded notice as the dashboard shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoticeView {
    pub id: i64,
    pub login_id: String,
    pub serial: String,
    pub threshold_days: u32,
    pub not_after: String,
    pub created_at: String,
    /// `pending`, `sent`, `failed` (given up) or `none` (no mail: e-mail off or no recipient).
    pub mail_status: String,
}

/// A mail that failed at least once and is not sent yet, as the dashboard shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MailFailureView {
    pub id: i64,
    pub recipients: String,
    pub subject: String,
    pub attempts: u32,
    /// Empty once given up.
    pub next_attempt_at: Option<String>,
    pub error_code: String,
    pub message: Message,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lifecycle::StoredState;
    use time::macros::datetime;

    const EXPIRY: OffsetDateTime = datetime!(2027-11-23 09:00:00 UTC);

    fn valid() -> CertificateFacts {
        CertificateFacts {
            state: StoredState::Issued,
            not_before: EXPIRY - Duration::days(366),
            not_after: EXPIRY,
        }
    }

    #[test]
    fn a_notice_is_due_from_the_threshold_instant_and_the_nearest_threshold_wins() {
        let t = [40, 7];
        let c = valid();
        let forty = EXPIRY - Duration::days(40);
        assert_eq!(due_threshold(&c, &t, forty - Duration::seconds(1)), None);
        assert_eq!(due_threshold(&c, &t, forty), Some(40));
        let seven = EXPIRY - Duration::days(7);
        assert_eq!(
            due_threshold(&c, &t, seven - Duration::seconds(1)),
            Some(40)
        );
        assert_eq!(due_threshold(&c, &t, seven), Some(7));
        assert_eq!(due_threshold(&c, &t, EXPIRY), Some(7));
        assert_eq!(due_threshold(&c, &t, EXPIRY + Duration::seconds(1)), None);
        let revoked = CertificateFacts {
            state: StoredState::Revoked,
            ..c
        };
        assert_eq!(due_threshold(&revoked, &t, seven), None);
    }

    #[test]
    fn the_daily_run_is_at_the_hour_in_japan_time() {
        // 07:59 JST -> 08:00 JST the same day; 08:00 JST -> the next day.
        let before = datetime!(2026-05-01 22:59:00 UTC);
        assert_eq!(
            next_daily_run(before, 8, JST),
            datetime!(2026-05-02 08:00:00 +09:00)
        );
        let at = datetime!(2026-05-01 23:00:00 UTC);
        assert_eq!(
            next_daily_run(at, 8, JST),
            datetime!(2026-05-03 08:00:00 +09:00)
        );
    }

    #[test]
    fn failed_mail_backs_off_and_gives_up_after_the_last_attempt() {
        let delays: Vec<i64> = (1..MAX_MAIL_ATTEMPTS)
            .map(|n| retry_delay(n).map(|d| d.whole_minutes()).unwrap_or(-1))
            .collect();
        assert_eq!(delays, vec![1, 5, 15, 60, 180, 360, 720]);
        assert_eq!(retry_delay(MAX_MAIL_ATTEMPTS), None);
    }

    #[test]
    fn the_mail_is_japanese_first_with_the_jst_expiry_date() {
        let n = NoticeFacts {
            organisation: "株式会社テスト商事",
            login_id: "taro0001",
            name: "佐藤 太郎",
            serial: "00ff",
            not_after: EXPIRY,
            threshold_days: 40,
            console_url: "http://127.0.0.1:3000",
        };
        let m = notice_mail(&n, EXPIRY - Duration::days(40));
        assert!(m.subject.contains("40日以内です: taro0001"));
        assert!(m.subject.contains("within 40 days: taro0001"));
        assert!(m
            .body
            .contains("有効期限: 2027-11-23 18:00 (日本時間、あと40日)"));
        assert!(m
            .body
            .contains("Expires: 2027-11-23 18:00 (Japan time, 40 days left)"));
        assert!(m.body.find("様").expect("ja") < m.body.find("Dear").expect("en"));
    }

    #[test]
    fn settings_rules_have_their_codes_and_fields() {
        let ok = NotificationSettings::default();
        assert_eq!(ok.validate(), Ok(()));
        let cases = [
            (
                NotificationSettings {
                    first_days: 7,
                    ..ok.clone()
                },
                "E-NOTICE-001",
            ),
            (
                NotificationSettings {
                    second_days: 0,
                    ..ok.clone()
                },
                "E-NOTICE-001",
            ),
            (
                NotificationSettings {
                    daily_hour: 24,
                    ..ok.clone()
                },
                "E-NOTICE-002",
            ),
            (
                NotificationSettings {
                    extra_recipients: "a@example.jp, nope".into(),
                    ..ok.clone()
                },
                "E-NOTICE-003",
            ),
            (
                NotificationSettings {
                    smtp_port: 0,
                    ..ok.clone()
                },
                "E-NOTICE-004",
            ),
            (
                NotificationSettings {
                    smtp_host: "smtp.example.jp".into(),
                    ..ok.clone()
                },
                "E-NOTICE-005",
            ),
            (
                NotificationSettings {
                    smtp_host: "smtp example".into(),
                    ..ok.clone()
                },
                "E-NOTICE-006",
            ),
        ];
        for (s, code) in cases {
            assert_eq!(s.validate().map_err(|e| e.code()), Err(code), "{s:?}");
        }
        let extra = NotificationSettings {
            extra_recipients: "a@example.jp、b@example.jp\nc@example.jp".into(),
            ..ok
        };
        assert_eq!(extra.extra_recipient_list().map(|l| l.len()), Ok(3));
    }

    #[test]
    fn mail_errors_have_codes_and_only_address_errors_are_permanent() {
        let all = [
            MailError::Connect {
                server: "h:1".into(),
            },
            MailError::Auth,
            MailError::RecipientRejected {
                address: "a@b.jp".into(),
            },
            MailError::Tls,
            MailError::Refused {
                reply: "554".into(),
            },
            MailError::NotConfigured,
            MailError::BadAddress {
                address: "x".into(),
            },
        ];
        for (i, e) in all.iter().enumerate() {
            assert_eq!(e.code(), format!("E-MAIL-{:03}", i + 1));
            assert!(!e.message().ja.is_empty() && !e.message().en.is_empty());
        }
        assert_eq!(all.iter().filter(|e| e.is_permanent()).count(), 2);
    }
}
