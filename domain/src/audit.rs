//! What the audit log says was done: [`AuditAction`], stored as its [`AuditAction::as_str`]
//! name and shown on the Audit log page by its [`AuditAction::label`] in both languages.

use crate::lang::Message;
use serde::{Deserialize, Serialize};

/// One kind of audit row. The stored name ([`AuditAction::as_str`], also the serde name) never
/// changes once written; a new action needs a label, or `label` does not compile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditAction {
    Setup,
    SignIn,
    SignOut,
    Lock,
    Unlock,
    UserCreate,
    UserUpdate,
    UserDelete,
    UserImport,
    PasswordSet,
    KeyDownload,
    KeyErase,
    DeliverySingle,
    DeliveryBundle,
    DeliveryPickup,
    DeliveryErase,
    PasswordSheet,
    PickupDownload,
    PickupLock,
    PickupReset,
    PickupMail,
    DistributionSettings,
    CaCreate,
    CrlPublish,
    ProfileUpdate,
    LockTemporary,
    PickupExpire,
    SecretDropped,
    BulkStart,
    NoticesRecord,
    NoticeMailSent,
    NoticeMailGivenUp,
    NotificationSettingsUpdate,
    MailTest,
    CaBackendUpdate,
    CaRequest,
    CaSign,
    CaRevoke,
    CaRequestUnanswered,
    CaRequestOrphan,
    CaRequestReconciled,
    CaRequestNeverIssued,
    CaAnswerRefused,
    CertificateIssue,
    CertificateRenew,
    CertificateRevoke,
    CertificateReissue,
    OtpEnrol,
    OtpReset,
    OtpCodeFailed,
    OtpRecoveryCodeUsed,
    OtpStepUp,
    OtpSignIn,
    OtpTimeSync,
    OtpSettingsUpdate,
    CertificateCheck,
    ServerCertificateIssue,
    Backup,
    Restore,
    BackupScheduleUpdate,
    EnrolmentOpen,
    EnrolmentRefused,
    EnrolmentLock,
    EnrolmentIssue,
    EnrolmentConfirm,
    EnrolmentReset,
    EnrolmentMail,
    EnrolmentSettings,
    SelfRenewalIssue,
    SelfRenewalConfirm,
}

impl AuditAction {
    /// Every action, in the order of the enum.
    pub const ALL: [AuditAction; 70] = [
        AuditAction::Setup,
        AuditAction::SignIn,
        AuditAction::SignOut,
        AuditAction::Lock,
        AuditAction::Unlock,
        AuditAction::UserCreate,
        AuditAction::UserUpdate,
        AuditAction::UserDelete,
        AuditAction::UserImport,
        AuditAction::PasswordSet,
        AuditAction::KeyDownload,
        AuditAction::KeyErase,
        AuditAction::DeliverySingle,
        AuditAction::DeliveryBundle,
        AuditAction::DeliveryPickup,
        AuditAction::DeliveryErase,
        AuditAction::PasswordSheet,
        AuditAction::PickupDownload,
        AuditAction::PickupLock,
        AuditAction::PickupReset,
        AuditAction::PickupMail,
        AuditAction::DistributionSettings,
        AuditAction::CaCreate,
        AuditAction::CrlPublish,
        AuditAction::ProfileUpdate,
        AuditAction::LockTemporary,
        AuditAction::PickupExpire,
        AuditAction::SecretDropped,
        AuditAction::BulkStart,
        AuditAction::NoticesRecord,
        AuditAction::NoticeMailSent,
        AuditAction::NoticeMailGivenUp,
        AuditAction::NotificationSettingsUpdate,
        AuditAction::MailTest,
        AuditAction::CaBackendUpdate,
        AuditAction::CaRequest,
        AuditAction::CaSign,
        AuditAction::CaRevoke,
        AuditAction::CaRequestUnanswered,
        AuditAction::CaRequestOrphan,
        AuditAction::CaRequestReconciled,
        AuditAction::CaRequestNeverIssued,
        AuditAction::CaAnswerRefused,
        AuditAction::CertificateIssue,
        AuditAction::CertificateRenew,
        AuditAction::CertificateRevoke,
        AuditAction::CertificateReissue,
        AuditAction::OtpEnrol,
        AuditAction::OtpReset,
        AuditAction::OtpCodeFailed,
        AuditAction::OtpRecoveryCodeUsed,
        AuditAction::OtpStepUp,
        AuditAction::OtpSignIn,
        AuditAction::OtpTimeSync,
        AuditAction::OtpSettingsUpdate,
        AuditAction::CertificateCheck,
        AuditAction::ServerCertificateIssue,
        AuditAction::Backup,
        AuditAction::Restore,
        AuditAction::BackupScheduleUpdate,
        AuditAction::EnrolmentOpen,
        AuditAction::EnrolmentRefused,
        AuditAction::EnrolmentLock,
        AuditAction::EnrolmentIssue,
        AuditAction::EnrolmentConfirm,
        AuditAction::EnrolmentReset,
        AuditAction::EnrolmentMail,
        AuditAction::EnrolmentSettings,
        AuditAction::SelfRenewalIssue,
        AuditAction::SelfRenewalConfirm,
    ];

    /// The certificate operation `operation` (`issue`, `renew`, `revoke`, `reissue`) as done.
    pub fn certificate(operation: crate::OperationKind) -> AuditAction {
        match operation {
            crate::OperationKind::Issue => AuditAction::CertificateIssue,
            crate::OperationKind::Renew => AuditAction::CertificateRenew,
            crate::OperationKind::Revoke => AuditAction::CertificateRevoke,
            crate::OperationKind::Reissue => AuditAction::CertificateReissue,
        }
    }

    /// A request to the external CA that failed at `step` (`sign` or `revoke`).
    pub fn ca_failure(step: &str) -> Option<AuditAction> {
        match step {
            "sign" => Some(AuditAction::CaSign),
            "revoke" => Some(AuditAction::CaRevoke),
            _ => None,
        }
    }

    /// A prepared download of `kind` (`single`, `bundle`, `pickup`).
    pub fn delivery(kind: &str) -> Option<AuditAction> {
        match kind {
            "single" => Some(AuditAction::DeliverySingle),
            "bundle" => Some(AuditAction::DeliveryBundle),
            "pickup" => Some(AuditAction::DeliveryPickup),
            _ => None,
        }
    }

    /// The name stored in the audit log.
    pub fn as_str(self) -> &'static str {
        match self {
            AuditAction::Setup => "setup",
            AuditAction::SignIn => "sign_in",
            AuditAction::SignOut => "sign_out",
            AuditAction::Lock => "lock",
            AuditAction::Unlock => "unlock",
            AuditAction::UserCreate => "user_create",
            AuditAction::UserUpdate => "user_update",
            AuditAction::UserDelete => "user_delete",
            AuditAction::UserImport => "user_import",
            AuditAction::PasswordSet => "password_set",
            AuditAction::KeyDownload => "key_download",
            AuditAction::KeyErase => "key_erase",
            AuditAction::DeliverySingle => "delivery_single",
            AuditAction::DeliveryBundle => "delivery_bundle",
            AuditAction::DeliveryPickup => "delivery_pickup",
            AuditAction::DeliveryErase => "delivery_erase",
            AuditAction::PasswordSheet => "password_sheet",
            AuditAction::PickupDownload => "pickup_download",
            AuditAction::PickupLock => "pickup_lock",
            AuditAction::PickupReset => "pickup_reset",
            AuditAction::PickupMail => "pickup_mail",
            AuditAction::DistributionSettings => "distribution_settings",
            AuditAction::CaCreate => "ca_create",
            AuditAction::CrlPublish => "crl_publish",
            AuditAction::ProfileUpdate => "profile_update",
            AuditAction::LockTemporary => "lock_temporary",
            AuditAction::PickupExpire => "pickup_expire",
            AuditAction::SecretDropped => "secret_dropped",
            AuditAction::BulkStart => "bulk_start",
            AuditAction::NoticesRecord => "notices_record",
            AuditAction::NoticeMailSent => "notice_mail_sent",
            AuditAction::NoticeMailGivenUp => "notice_mail_given_up",
            AuditAction::NotificationSettingsUpdate => "notification_settings_update",
            AuditAction::MailTest => "mail_test",
            AuditAction::CaBackendUpdate => "ca_backend_update",
            AuditAction::CaRequest => "ca_request",
            AuditAction::CaSign => "ca_sign",
            AuditAction::CaRevoke => "ca_revoke",
            AuditAction::CaRequestUnanswered => "ca_request_unanswered",
            AuditAction::CaRequestOrphan => "ca_request_orphan",
            AuditAction::CaRequestReconciled => "ca_request_reconciled",
            AuditAction::CaRequestNeverIssued => "ca_request_never_issued",
            AuditAction::CaAnswerRefused => "ca_answer_refused",
            AuditAction::CertificateIssue => "certificate_issue",
            AuditAction::CertificateRenew => "certificate_renew",
            AuditAction::CertificateRevoke => "certificate_revoke",
            AuditAction::CertificateReissue => "certificate_reissue",
            AuditAction::OtpEnrol => "otp_enrol",
            AuditAction::OtpReset => "otp_reset",
            AuditAction::OtpCodeFailed => "otp_code_failed",
            AuditAction::OtpRecoveryCodeUsed => "otp_recovery_code_used",
            AuditAction::OtpStepUp => "otp_step_up",
            AuditAction::OtpSignIn => "otp_sign_in",
            AuditAction::OtpTimeSync => "otp_time_sync",
            AuditAction::OtpSettingsUpdate => "otp_settings_update",
            AuditAction::CertificateCheck => "certificate_check",
            AuditAction::ServerCertificateIssue => "server_certificate_issue",
            AuditAction::Backup => "backup",
            AuditAction::Restore => "restore",
            AuditAction::BackupScheduleUpdate => "backup_schedule_update",
            AuditAction::EnrolmentOpen => "enrolment_open",
            AuditAction::EnrolmentRefused => "enrolment_refused",
            AuditAction::EnrolmentLock => "enrolment_lock",
            AuditAction::EnrolmentIssue => "enrolment_issue",
            AuditAction::EnrolmentConfirm => "enrolment_confirm",
            AuditAction::EnrolmentReset => "enrolment_reset",
            AuditAction::EnrolmentMail => "enrolment_mail",
            AuditAction::EnrolmentSettings => "enrolment_settings",
            AuditAction::SelfRenewalIssue => "self_renewal_issue",
            AuditAction::SelfRenewalConfirm => "self_renewal_confirm",
        }
    }

    /// Reads a stored name back; a name no action has (an older or newer certdesk) is `None`.
    pub fn parse(stored: &str) -> Option<AuditAction> {
        AuditAction::ALL.into_iter().find(|a| a.as_str() == stored)
    }

    /// The action as the Audit log page shows it, in both languages.
    pub fn label(self) -> Message {
        let (ja, en) = match self {
            AuditAction::Setup => ("初期設定", "Setup"),
            AuditAction::SignIn => ("サインイン", "Sign-in"),
            AuditAction::SignOut => ("サインアウト", "Sign-out"),
            AuditAction::Lock => ("閉塞", "Lock"),
            AuditAction::Unlock => ("閉塞解除", "Unlock"),
            AuditAction::UserCreate => ("利用者の追加", "User added"),
            AuditAction::UserUpdate => ("利用者の変更", "User changed"),
            AuditAction::UserDelete => ("利用者の削除", "User deleted"),
            AuditAction::UserImport => ("CSVからの一括登録", "Users imported from CSV"),
            AuditAction::PasswordSet => ("パスワードの設定", "Password set"),
            AuditAction::KeyDownload => ("秘密鍵のダウンロード", "Key downloaded"),
            AuditAction::KeyErase => ("秘密鍵の消去", "Key erased"),
            AuditAction::DeliverySingle => ("配付ファイルの作成", "File prepared"),
            AuditAction::DeliveryBundle => ("一括ファイルの作成", "Bundle prepared"),
            AuditAction::DeliveryPickup => ("受取の発行", "Pickup opened"),
            AuditAction::DeliveryErase => ("配付ファイルの消去", "Prepared files erased"),
            AuditAction::PasswordSheet => ("パスワード通知書の表示", "Password sheet shown"),
            AuditAction::PickupDownload => ("証明書の受け取り", "Certificate picked up"),
            AuditAction::PickupLock => ("受取のロック", "Pickup locked"),
            AuditAction::PickupReset => ("受取ロックの解除", "Pickup lock reset"),
            AuditAction::PickupMail => ("受取案内のメール", "Pickup notice mailed"),
            AuditAction::DistributionSettings => {
                ("配付設定の変更", "Distribution settings changed")
            }
            AuditAction::CaCreate => ("CAの作成", "CA created"),
            AuditAction::CrlPublish => ("CRLの発行", "CRL published"),
            AuditAction::ProfileUpdate => ("発行プロファイルの変更", "Issuing profile changed"),
            AuditAction::LockTemporary => ("一時的な閉塞", "Locked for a while"),
            AuditAction::PickupExpire => ("未受取の受取の期限切れ", "Unopened pickup expired"),
            AuditAction::SecretDropped => (
                "宛先の変更による保存済みの秘密情報の破棄",
                "Stored secret dropped (destination changed)",
            ),
            AuditAction::BulkStart => ("一括処理の開始", "Bulk run started"),
            AuditAction::NoticesRecord => ("期限通知の記録", "Renewal notices recorded"),
            AuditAction::NoticeMailSent => ("通知メールの送信", "Notice mail sent"),
            AuditAction::NoticeMailGivenUp => ("通知メールの送信中止", "Notice mail given up"),
            AuditAction::NotificationSettingsUpdate => {
                ("通知設定の変更", "Notification settings changed")
            }
            AuditAction::MailTest => ("テストメールの送信", "Test mail"),
            AuditAction::CaBackendUpdate => ("認証局の設定変更", "CA settings changed"),
            AuditAction::CaRequest => ("CAへの発行依頼", "Request sent to the CA"),
            AuditAction::CaSign => ("CAでの発行の失敗", "Issuing at the CA failed"),
            AuditAction::CaRevoke => ("CAでの失効の失敗", "Revoking at the CA failed"),
            AuditAction::CaRequestUnanswered => {
                ("CAから応答のない依頼", "Request the CA never answered")
            }
            AuditAction::CaRequestOrphan => {
                ("登録できなかったCAの証明書", "CA certificate not recorded")
            }
            AuditAction::CaRequestReconciled => (
                "応答のない依頼の証明書をCAで失効",
                "Unanswered request: revoked at the CA",
            ),
            AuditAction::CaRequestNeverIssued => (
                "応答のない依頼(証明書は未発行)",
                "Unanswered request: never issued",
            ),
            AuditAction::CaAnswerRefused => (
                "CAの証明書の受け取りを拒否",
                "Certificate from the CA refused",
            ),
            AuditAction::CertificateIssue => ("証明書の発行", "Certificate issued"),
            AuditAction::CertificateRenew => ("証明書の更新", "Certificate renewed"),
            AuditAction::CertificateRevoke => ("証明書の失効", "Certificate revoked"),
            AuditAction::CertificateReissue => ("証明書の再発行", "Certificate reissued"),
            AuditAction::OtpEnrol => ("ワンタイムパスワードの登録", "One-time password enrolled"),
            AuditAction::OtpReset => ("ワンタイムパスワードのリセット", "One-time password reset"),
            AuditAction::OtpCodeFailed => ("ワンタイムパスワードの誤り", "Wrong one-time password"),
            AuditAction::OtpRecoveryCodeUsed => ("リカバリーコードの使用", "Recovery code used"),
            AuditAction::OtpStepUp => (
                "ワンタイムパスワードの再確認",
                "One-time password re-checked (step-up)",
            ),
            AuditAction::OtpSignIn => (
                "ワンタイムパスワードでのサインイン",
                "Signed in with a one-time password",
            ),
            AuditAction::OtpTimeSync => (
                "ワンタイムパスワードの時刻同期",
                "One-time password time sync",
            ),
            AuditAction::OtpSettingsUpdate => (
                "ワンタイムパスワード設定の変更",
                "One-time password settings changed",
            ),
            AuditAction::CertificateCheck => (
                "証明書のインストール確認",
                "Certificate installation checked",
            ),
            AuditAction::ServerCertificateIssue => {
                ("サーバ証明書の発行", "Server certificate issued")
            }
            AuditAction::Backup => ("バックアップ", "Backup"),
            AuditAction::Restore => ("バックアップからの復元", "Restored from a backup"),
            AuditAction::BackupScheduleUpdate => {
                ("定期バックアップの設定変更", "Scheduled backups changed")
            }
            AuditAction::EnrolmentOpen => ("登録コードの発行", "Enrolment opened"),
            AuditAction::EnrolmentRefused => ("登録コードの誤り", "Wrong enrolment code"),
            AuditAction::EnrolmentLock => ("登録のロック", "Enrolment locked"),
            AuditAction::EnrolmentIssue => {
                ("本人作成の鍵での発行", "Issued for a key the holder made")
            }
            AuditAction::EnrolmentConfirm => ("登録の完了", "Enrolment confirmed"),
            AuditAction::EnrolmentReset => ("登録ロックの解除", "Enrolment reset"),
            AuditAction::EnrolmentMail => ("登録案内のメール", "Enrolment notice mailed"),
            AuditAction::EnrolmentSettings => {
                ("登録と自己更新の設定変更", "Enrolment settings changed")
            }
            AuditAction::SelfRenewalIssue => ("本人による更新", "Renewed by the holder"),
            AuditAction::SelfRenewalConfirm => {
                ("本人による更新の完了", "Renewal by the holder confirmed")
            }
        };
        Message::new(ja, en)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    /// Does not compile when an action is added and not named here; the length check below
    /// then asks for it in [`AuditAction::ALL`] too.
    fn listed(action: AuditAction) -> bool {
        match action {
            AuditAction::Setup
            | AuditAction::SignIn
            | AuditAction::SignOut
            | AuditAction::Lock
            | AuditAction::Unlock
            | AuditAction::UserCreate
            | AuditAction::UserUpdate
            | AuditAction::UserDelete
            | AuditAction::UserImport
            | AuditAction::PasswordSet
            | AuditAction::KeyDownload
            | AuditAction::KeyErase
            | AuditAction::DeliverySingle
            | AuditAction::DeliveryBundle
            | AuditAction::DeliveryPickup
            | AuditAction::DeliveryErase
            | AuditAction::PasswordSheet
            | AuditAction::PickupDownload
            | AuditAction::PickupLock
            | AuditAction::PickupReset
            | AuditAction::PickupMail
            | AuditAction::DistributionSettings
            | AuditAction::CaCreate
            | AuditAction::CrlPublish
            | AuditAction::ProfileUpdate
            | AuditAction::LockTemporary
            | AuditAction::PickupExpire
            | AuditAction::SecretDropped
            | AuditAction::BulkStart
            | AuditAction::NoticesRecord
            | AuditAction::NoticeMailSent
            | AuditAction::NoticeMailGivenUp
            | AuditAction::NotificationSettingsUpdate
            | AuditAction::MailTest
            | AuditAction::CaBackendUpdate
            | AuditAction::CaRequest
            | AuditAction::CaSign
            | AuditAction::CaRevoke
            | AuditAction::CaRequestUnanswered
            | AuditAction::CaRequestOrphan
            | AuditAction::CaRequestReconciled
            | AuditAction::CaRequestNeverIssued
            | AuditAction::CaAnswerRefused
            | AuditAction::CertificateIssue
            | AuditAction::CertificateRenew
            | AuditAction::CertificateRevoke
            | AuditAction::CertificateReissue
            | AuditAction::OtpEnrol
            | AuditAction::OtpReset
            | AuditAction::OtpCodeFailed
            | AuditAction::OtpRecoveryCodeUsed
            | AuditAction::OtpStepUp
            | AuditAction::OtpSignIn
            | AuditAction::OtpTimeSync
            | AuditAction::OtpSettingsUpdate
            | AuditAction::CertificateCheck
            | AuditAction::ServerCertificateIssue
            | AuditAction::Backup
            | AuditAction::Restore
            | AuditAction::BackupScheduleUpdate
            | AuditAction::EnrolmentOpen
            | AuditAction::EnrolmentRefused
            | AuditAction::EnrolmentLock
            | AuditAction::EnrolmentIssue
            | AuditAction::EnrolmentConfirm
            | AuditAction::EnrolmentReset
            | AuditAction::EnrolmentMail
            | AuditAction::EnrolmentSettings
            | AuditAction::SelfRenewalIssue
            | AuditAction::SelfRenewalConfirm => true,
        }
    }

    #[test]
    fn all_holds_every_action_once() {
        let distinct: HashSet<AuditAction> = AuditAction::ALL.into_iter().collect();
        assert_eq!(distinct.len(), AuditAction::ALL.len());
        assert_eq!(
            AuditAction::ALL.len(),
            70,
            "an action was added: list it in ALL"
        );
        assert!(AuditAction::ALL.into_iter().all(listed));
    }

    #[test]
    fn every_action_is_read_back_from_its_stored_name() {
        for action in AuditAction::ALL {
            assert_eq!(
                AuditAction::parse(action.as_str()),
                Some(action),
                "{action:?}"
            );
        }
        assert_eq!(AuditAction::parse("something_new"), None);
    }

    #[test]
    fn every_action_has_its_own_label_in_both_languages() {
        let (mut ja, mut en) = (HashSet::new(), HashSet::new());
        for action in AuditAction::ALL {
            let label = action.label();
            assert!(!label.ja.is_empty() && !label.en.is_empty(), "{action:?}");
            assert_ne!(label.ja, label.en, "{action:?}");
            assert!(ja.insert(label.ja.clone()), "{action:?} ja repeats");
            assert!(en.insert(label.en.clone()), "{action:?} en repeats");
        }
    }

    #[test]
    fn actions_built_from_an_operation_keep_todays_stored_names() {
        for kind in crate::OperationKind::ALL {
            assert_eq!(
                AuditAction::certificate(kind).as_str(),
                format!("certificate_{}", kind.as_str())
            );
        }
        assert_eq!(
            AuditAction::ca_failure("sign").map(AuditAction::as_str),
            Some("ca_sign")
        );
        assert_eq!(
            AuditAction::delivery("pickup").map(AuditAction::as_str),
            Some("delivery_pickup")
        );
        assert_eq!(AuditAction::ca_failure("frobnicate"), None);
    }
}
