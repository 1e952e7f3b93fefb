//! The one translation mechanism: every text a person sees is a [`Key`] looked up in the
//! current [`Lang`], or a [`Message`] that already carries both languages (errors).
//!
//! The language comes from the `certdesk_lang` cookie (Japanese when absent); the server
//! renders `<html lang>` from it and the browser reads that attribute when it hydrates, so
//! both render the same text. The switch in the header changes the signal (every text is a
//! closure over it), the cookie and `<html lang>`, without a reload.

use certdesk_domain::{AuditAction, Lang, Message};
use leptos::prelude::*;

/// An audit row's stored action as people read it ([`AuditAction::label`]); a name this
/// certdesk does not know is shown as it is.
pub fn audit_action_label(lang: Lang, stored: &str) -> String {
    AuditAction::parse(stored)
        .map(|action| action.label().in_lang(lang).to_string())
        .unwrap_or_else(|| stored.to_string())
}

/// A certificate's stored identifier (how it was made, why it was revoked) as people read it;
/// unknown identifiers are shown as they are.
pub fn identifier_label(lang: Lang, id: &str) -> String {
    let (ja, en) = match id {
        "issue" => ("証明書の発行", "Certificate issued"),
        "renew" => ("証明書の更新", "Certificate renewed"),
        "revoke" => ("証明書の失効", "Certificate revoked"),
        "reissue" => ("証明書の再発行", "Certificate reissued"),
        other => {
            return certdesk_domain::lifecycle::RevocationReason::parse(other)
                .map(|r| r.label().in_lang(lang).to_string())
                .unwrap_or_else(|| other.to_string())
        }
    };
    match lang {
        Lang::Ja => ja.to_string(),
        Lang::En => en.to_string(),
    }
}

/// The cookie that keeps the chosen language.
pub const LANG_COOKIE: &str = "certdesk_lang";

/// The current language, provided as context by `App`.
#[derive(Clone, Copy)]
pub struct LangSignal(pub RwSignal<Lang>);

pub fn use_lang() -> RwSignal<Lang> {
    use_context::<LangSignal>()
        .map(|l| l.0)
        .unwrap_or_else(|| RwSignal::new(Lang::default()))
}

/// A reactive text for `key` in the current language, for use in `view!`.
pub fn tr(key: Key) -> impl Fn() -> &'static str + Copy + Send + Sync + 'static {
    let lang = use_lang();
    move || t(lang.get(), key)
}

/// A reactive text of a two-language message.
pub fn tr_message(message: Message) -> impl Fn() -> String + Send + Sync + 'static {
    let lang = use_lang();
    move || message.in_lang(lang.get()).to_string()
}

/// The language the page starts in: from the request's cookie on the server, from the
/// rendered `<html lang>` in the browser.
pub fn initial_lang() -> Lang {
    #[cfg(feature = "ssr")]
    {
        use_context::<axum::http::request::Parts>()
            .and_then(|parts| {
                lang_from_cookie_header(
                    parts
                        .headers
                        .get(axum::http::header::COOKIE)?
                        .to_str()
                        .ok()?,
                )
            })
            .unwrap_or_default()
    }
    #[cfg(all(feature = "hydrate", not(feature = "ssr")))]
    {
        leptos::prelude::document()
            .document_element()
            .and_then(|e| e.get_attribute("lang"))
            .and_then(|tag| Lang::from_tag(&tag))
            .unwrap_or_default()
    }
    #[cfg(not(any(feature = "ssr", feature = "hydrate")))]
    {
        Lang::default()
    }
}

/// Reads the language cookie out of a `Cookie:` header value.
pub fn lang_from_cookie_header(header: &str) -> Option<Lang> {
    header
        .split(';')
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == LANG_COOKIE)
        .and_then(|(_, value)| Lang::from_tag(value))
}

/// Switches the page's language in place and remembers it in the cookie.
pub fn switch_lang(lang: RwSignal<Lang>, to: Lang) {
    lang.set(to);
    #[cfg(feature = "hydrate")]
    {
        use wasm_bindgen::JsCast;
        let document = leptos::prelude::document();
        if let Some(root) = document.document_element() {
            let _ = root.set_attribute("lang", to.tag());
        }
        if let Ok(html) = document.dyn_into::<web_sys::HtmlDocument>() {
            let _ = html.set_cookie(&format!(
                "{LANG_COOKIE}={}; Path=/; Max-Age=31536000; SameSite=Strict",
                to.tag()
            ));
        }
    }
}

macro_rules! keys {
    ($($key:ident => $ja:literal, $en:literal;)*) => {
        /// Every fixed text of the console.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum Key { $($key),* }

        impl Key {
            pub const ALL: &'static [Key] = &[$(Key::$key),*];
        }

        /// The text of `key` in `lang`.
        pub fn t(lang: Lang, key: Key) -> &'static str {
            match (lang, key) {
                $((Lang::Ja, Key::$key) => $ja, (Lang::En, Key::$key) => $en,)*
            }
        }
    };
}

keys! {
    AppName => "certdesk", "certdesk";
    AppTagline => "インターネットバンキング用クライアント証明書の管理", "Client certificates for business internet banking";
    SwitchToOther => "English", "日本語";
    SwitchToOtherLabel => "Switch the language to English", "表示言語を日本語に切り替える";
    SignedInAs => "サインイン中", "Signed in as";
    SignOut => "サインアウト", "Sign out";
    NavDashboard => "ダッシュボード", "Dashboard";
    NavUsers => "利用者", "Users";
    NavCertificates => "証明書", "Certificates";
    NavDistribution => "配布", "Distribution";
    NavAudit => "監査ログ", "Audit log";
    NavSettings => "設定", "Settings";
    MainNavigation => "メインメニュー", "Main navigation";
    Loading => "読み込み中…", "Loading…";
    Working => "処理中…", "Working…";
    ErrorCode => "エラーコード", "Error code";
    SetupTitle => "初期設定", "First-run setup";
    SetupIntro => "組織とマスターユーザを登録します。この画面は一度だけ表示されます。", "Register your organisation and its master user. This page is shown only once.";
    SetupOrganisation => "組織", "Organisation";
    SetupMaster => "マスターユーザ", "Master user";
    FieldOrgName => "組織名", "Organisation name";
    FieldGroupId => "グループID", "Group ID";
    FieldGroupIdHint => "半角英数字4〜20文字", "4 to 20 ASCII letters or digits";
    FieldBankCode => "金融機関コード", "Bank code";
    FieldBankCodeHint => "半角数字4桁", "4 digits";
    FieldLoginId => "ログインID", "Login ID";
    FieldLoginIdHint => "半角英数字と「_」「-」で6〜12文字", "6 to 12 ASCII letters, digits, '_' or '-'";
    FieldName => "氏名", "Name";
    FieldEmail => "メールアドレス", "E-mail address";
    FieldPassword => "パスワード", "Password";
    FieldPasswordHint => "12文字以上", "At least 12 characters";
    FieldPasswordConfirm => "パスワード(確認)", "Password (again)";
    SetupSubmit => "登録して始める", "Register and start";
    SetupTokenLegend => "セットアップトークン", "Setup token";
    SetupTokenIntro => "このコンソールは他のPCからも開けるため、初期設定にはトークンが必要です。certdesk serve を起動した端末に表示されたトークン(データディレクトリの setup-token ファイルにもあります)を入力してください。", "This console can be reached from other PCs, so setup needs a token: enter the one certdesk serve printed on its terminal (it is also in the setup-token file in the data directory).";
    FieldSetupToken => "セットアップトークン", "Setup token";
    FieldSetupTokenHint => "例: 7K2MP-9QXDR-4HT6W-B3NZA(大文字・小文字、ハイフンは区別しません)", "e.g. 7K2MP-9QXDR-4HT6W-B3NZA (case and dashes do not matter)";
    LoginTitle => "サインイン", "Sign in";
    LoginIntro => "マスターユーザまたは管理者ユーザのログインIDでサインインしてください。", "Sign in with the login ID of a master or admin user.";
    LoginSubmit => "サインイン", "Sign in";
    LoginExpired => "一定時間操作がなかったためサインアウトしました。もう一度サインインしてください。", "You were signed out after a period without activity. Please sign in again.";
    SignInAgain => "サインイン画面へ", "Go to sign-in";
    LoginSessionEnded => "セッションが終了しました(一定時間操作がなかったか、サインインからの最長時間(既定12時間)が過ぎました)。もう一度サインインしてください。", "Your session ended (a period without activity, or the longest time after sign-in, 12 hours by default). Please sign in again.";
    FieldCurrentPassword => "現在のパスワード", "Current password";
    UsersOwnPasswordHint => "自分のパスワードを変えるには現在のパスワードが必要です。変えると、この画面以外のサインイン(他のブラウザなど)はすべて終了します。", "Changing your own password needs the current one; your other sessions (other browsers) end, this one stays.";
    UsersLockedTemporarilyBefore => "一時的に閉塞中(日本時間 ", "Locked until ";
    UsersLockedTemporarilyAfter => "まで)", " (Japan time)";
    UsersLockedTemporarilyHint => "5回続けてパスワードを間違えたための一時的な閉塞です。この時刻を過ぎると正しいパスワードでサインインできます。閉塞解除ですぐに解くこともできます。", "Locked for a while after 5 wrong passwords in a row: the right password works again after this time. Unlock lifts it at once.";
    UsersLockedPermanentHint => "マスターユーザ・管理者ユーザによる閉塞です。閉塞解除するまで続きます。", "Locked by a master or admin; it stays until someone unlocks it.";
    DashboardTitle => "ダッシュボード", "Dashboard";
    UsersTotal => "利用者数", "Users";
    UsersMasters => "マスターユーザ", "Master users";
    UsersAdmins => "管理者ユーザ", "Admin users";
    UsersGenerals => "一般ユーザ", "General users";
    UsersLocked => "閉塞中", "Locked";
    UsersLimit => "上限: マスター1名+その他99名", "Limit: 1 master + 99 others";
    UsersTitle => "利用者", "Users";
    CertificatesTitle => "証明書", "Certificates";
    DistributionTitle => "配布", "Distribution";
    SettingsTitle => "設定", "Settings";
    AuditTitle => "監査ログ", "Audit log";
    AuditAt => "日時(UTC)", "Time (UTC)";
    AuditActor => "操作者", "Actor";
    AuditAction => "操作", "Action";
    AuditTarget => "対象", "Target";
    AuditOutcome => "結果", "Outcome";
    AuditDetail => "詳細", "Detail";
    AuditEmpty => "記録はまだありません。", "Nothing recorded yet.";
    AuditNewest => "新しい順に最大200件", "Newest first, at most 200 rows";
    OutcomeSuccess => "成功", "success";
    OutcomeFailure => "失敗", "failure";
    CertIntro => "利用者ごとの現在の証明書です。更新は有効期限の40日前(設定による)から可能です。", "Each user's current certificate. Renewal opens 40 days before expiry (see Settings).";
    CertIssue => "発行", "Issue";
    CertRenew => "更新", "Renew";
    CertRevoke => "失効", "Revoke";
    CertReissue => "再発行", "Reissue";
    CertSelected => "選択中", "Selected";
    CertSelectAll => "すべて選択", "Select all";
    CertState => "状態", "State";
    CertSerial => "シリアル番号", "Serial";
    CertNotBefore => "有効期間の開始", "Valid from";
    CertNotAfter => "有効期限", "Expires";
    CertDaysLeft => "残り日数", "Days left";
    CertActions => "操作", "Actions";
    CertRenewable => "更新可能", "Renewable";
    CertReason => "失効理由", "Reason";
    CertReasonChoose => "理由を選んでください", "Choose a reason";
    CertConfirmHint => "内容を確認して「実行」を押してください。", "Check the list, then press Confirm.";
    CertReissueHint => "再発行では、現在の証明書を失効させてから新しい証明書を発行します。利用者には古い証明書をPCから削除するよう伝えてください。", "Reissue revokes the current certificate, then issues a new one. Tell the user to delete the old certificate from the PC.";
    CertProgressDone => "完了", "Done";
    CertProgressFailed => "失敗", "Failed";
    CertRunFinished => "処理が終わりました", "Finished";
    CertItemDone => "完了", "done";
    CertFollowRun => "実行中の一括処理の進み具合を見る", "Follow the run in progress";
    CertDetailTitle => "証明書", "Certificate";
    CertBackToList => "証明書一覧へ戻る", "Back to the certificate list";
    CertSubject => "サブジェクト", "Subject";
    CertRenewalOpens => "更新開始日", "Renewal opens";
    CertFingerprint => "SHA-256 フィンガープリント", "SHA-256 fingerprint";
    CertKeyType => "鍵の種類", "Key type";
    CertFriendlyName => "フレンドリ名", "Friendly name";
    CertIssuedBy => "発行者", "Issued by";
    CertRevokedAt => "失効日時", "Revoked at";
    CertDownloadPem => "証明書をダウンロード(PEM)", "Download the certificate (PEM)";
    CertHistory => "この利用者の証明書の履歴", "This user's certificate history";
    CertVia => "種別", "Made by";
    StateNone => "未発行", "Never issued";
    StateValid => "有効", "Valid";
    StateRevoked => "失効", "Revoked";
    StateExpired => "期限切れ", "Expired";
    StateSuperseded => "更新済み", "Superseded";
    Confirm => "実行", "Confirm";
    Cancel => "キャンセル", "Cancel";
    Close => "閉じる", "Close";
    Save => "保存", "Save";
    Saved => "保存しました", "Saved";
    ProfileTitle => "発行プロファイル", "Issuing profile";
    ProfileValidity => "有効期間(日)", "Validity (days)";
    ProfileWindow => "更新可能期間(有効期限の何日前から)", "Renewal window (days before expiry)";
    ProfileKeyTypeHint => "RSA 2048はすべてのWindowsで使えます。", "RSA 2048 works with every Windows version.";
    ProfileFriendlyHint => "<organisation> と <login ID> が置き換わります。Windowsで証明書を選ぶときに表示されます。", "<organisation> and <login ID> are replaced; Windows shows this name when users pick a certificate.";
    ProfileCaName => "CA名", "CA name";
    ProfileCaNameHint => "CAの作成時にOUに使われます(作成後の変更は新しい証明書のOUにだけ反映されます)。", "Used in the OU when the CA is made; later changes apply to new certificates' OU only.";
    ProfileCrlDays => "CRLの次回更新(日)", "CRL next update (days)";
    CaTitle => "認証局(CA)", "Certificate authority";
    CaIntro => "銀行のサーバなど、証明書を確認する側に渡すファイルです。", "Files for the parties that check the certificates, such as the bank's servers.";
    CaPem => "CA証明書(PEM)", "CA certificate (PEM)";
    CaDer => "CA証明書(DER)", "CA certificate (DER)";
    CrlPem => "失効リスト CRL(PEM)", "Revocation list, CRL (PEM)";
    ExtCaTitle => "発行に使う認証局", "CA used for issuing";
    ExtCaIntro => "証明書を内蔵CAで発行するか、外部の認証局(cfssl)にHTTP(S)で依頼するかを選びます。外部CAの場合、失効はCAに登録され、CRLはCAの運用者が発行します。", "Issue with the built-in CA, or ask an external CA (cfssl) over HTTP(S). With an external CA, revocations are recorded at the CA and its operator publishes the CRL.";
    ExtCaKind => "認証局", "CA";
    ExtCaEmbedded => "内蔵CA(標準)", "Built-in CA (default)";
    ExtCaCfssl => "外部CA(cfssl)", "External CA (cfssl)";
    ExtCaUrl => "CAのURL", "CA URL";
    ExtCaProfile => "署名プロファイル名", "Signing profile";
    ExtCaAuthKey => "HMAC認証キー(16進数)", "HMAC key (hex)";
    ExtCaSecretSet => "設定済みです。空欄のままなら変更しません(表示はしません)。", "Set. Leave empty to keep it (it is never shown).";
    ExtCaSecretUnset => "未設定です。", "Not set.";
    ExtCaConnectTimeout => "接続タイムアウト(秒)", "Connect timeout (seconds)";
    ExtCaTotalTimeout => "全体のタイムアウト(秒)", "Total timeout (seconds)";
    ExtCaProxyUrl => "プロキシのURL(使わない場合は空欄)", "Proxy URL (empty for none)";
    ExtCaProxyUser => "プロキシのユーザ名", "Proxy user";
    ExtCaProxyPassword => "プロキシのパスワード", "Proxy password";
    ExtCaBundle => "CAバンドル(CAのTLS証明書を確認する証明書、PEM)", "CA bundle (certificates that check the CA's TLS certificate, PEM)";
    ExtCaTest => "接続テスト", "Test connection";
    ExtCaTestHint => "保存済みの設定で、接続・CA証明書の取得・認証を順に確かめます(証明書は発行しません)。", "Checks connect, the CA certificate and the authentication in turn with the saved settings (issues nothing).";
    ExtCaKeySource => "鍵の生成", "Key generation";
    ExtCaKeySourceCsr => "certdeskで生成しCSRを送る(推奨: 秘密鍵がネットワークを通らず、応答が失われてもシリアル番号で照合できます)", "certdesk makes the key and sends a CSR (recommended: the private key never crosses the network, and a lost answer is found again by serial number)";
    ExtCaKeySourceCa => "CAで生成する(newcert: 秘密鍵がCAから送られてきます。cfssl 1.2 の newcert は認証なしです)", "The CA makes the key (newcert: the private key comes from the CA; cfssl 1.2's newcert takes no authentication)";
    ExtCaFiles => "外部CA(cfssl)のCA証明書とCRL(CAから取得します)", "The external CA's (cfssl) certificate and CRL (fetched from the CA)";
    ExtCaStepOk => "成功", "OK";
    ExtCaStepSettings => "設定", "Settings";
    ExtCaStepInfo => "接続とCA証明書", "Connection and CA certificate";
    ExtCaStepAuth => "認証", "Authentication";
    ExtCaStepFailed => "失敗", "Failed";
    NotFoundTitle => "ページが見つかりません", "Page not found";
    NotFoundBack => "ダッシュボードへ戻る", "Back to the dashboard";
    RoleMaster => "マスターユーザ", "Master";
    RoleAdmin => "管理者ユーザ", "Admin";
    RoleGeneral => "一般ユーザ", "General";
    UsersIntro => "利用者(マスターユーザ1名+その他99名まで)を管理します。ログインIDは半角英数字と「_」「-」で6〜12文字、大文字・小文字は区別せず組織内で一意です。", "Manage the users (1 master + up to 99 others). Login IDs are 6 to 12 ASCII letters, digits, '_' or '-', unique in the organisation regardless of case.";
    UsersRole => "権限", "Role";
    UsersRoleHint => "マスター権限を付与できるのはマスターユーザだけです。最後のマスターユーザは降格できません。", "Only a master can make someone a master. The last master cannot be demoted.";
    UsersAdd => "利用者を追加", "Add user";
    UsersEdit => "編集", "Edit";
    UsersPasswordHint => "管理者・マスターユーザのコンソール用(12文字以上)。空欄なら後で設定できます。一般ユーザには不要です。", "Console password for admins and masters (at least 12 characters). Leave empty to set it later; general users need none.";
    UsersSetPassword => "パスワード設定", "Set password";
    UsersNoPassword => "パスワード未設定", "No password";
    UsersNoPasswordHint => "パスワードを設定するまでコンソールにサインインできません。", "Cannot sign in to the console until a password is set.";
    UsersActive => "利用可", "Active";
    UsersLock => "閉塞", "Lock";
    UsersUnlock => "閉塞解除", "Unlock";
    UsersDelete => "削除", "Delete";
    UsersDeleteHint => "削除した利用者は一覧から消えますが、監査ログのために記録は残ります。有効な証明書がある場合は先に失効させてください。", "A deleted user leaves the list but stays on record for the audit log. Revoke a valid certificate first.";
    UsersSearch => "検索(ログインID・氏名)", "Search (login ID, name)";
    UsersAll => "すべて", "All";
    UsersState => "状態", "State";
    UsersSort => "並び順", "Sort by";
    UsersExport => "CSV出力", "Export CSV";
    UsersShown => "表示", "Shown";
    ImportTitle => "CSVから一括登録", "Import from CSV";
    ImportIntro => "列は ログインID,氏名,メールアドレス,権限(login_id,name,email,role)。1行目は見出し。Excelの「Excel ブック」(.xlsx・.xlsm・.xls、.odsも可、5 MiBまで)、「Unicode テキスト」(UTF-16)、「CSV UTF-8 (コンマ区切り)」、「CSV (コンマ区切り)」(Shift_JIS)をそのまま読めます。カンマ区切りとタブ区切りに対応します。テキストは1 MiBまで、どれも1,000行まで。全角で入力したログインID・メールアドレスは半角に直して読み、プレビューに並べて示します。まずプレビューで内容と問題を確認し、問題がなければ取り込みます(全行まとめて登録、途中で失敗した場合は何も登録しません)。", "Columns login_id,name,email,role (or ログインID,氏名,メールアドレス,権限), header on the first row. Excel workbooks (.xlsx, .xlsm, .xls, also .ods; up to 5 MiB), Unicode Text (UTF-16), CSV UTF-8 and CSV (Shift_JIS) are read as Excel saves them; comma or tab separated; text up to 1 MiB, at most 1,000 rows. Full-width login IDs and e-mail addresses are folded to half-width and shown side by side in the preview. Preview first to see every change and problem; the import writes all rows or none.";
    ImportTemplate => "ひな形", "Template";
    ImportFile => "利用者一覧のファイル(ブック・CSV・テキスト)", "User list file (workbook, CSV, text)";
    ImportSheet => "シート", "Sheet";
    ImportFolded => "全角を半角に直して読んだ値", "Full-width values read as half-width";
    ImportCell => "セル", "Cell";
    ImportMode => "取り込み方法", "Mode";
    ImportModeAdd => "追加のみ", "Add only";
    ImportModeUpdate => "追加と更新(ログインIDで照合)", "Add and update (matched by login ID)";
    ImportPreview => "プレビュー", "Preview";
    ImportCommit => "取り込む", "Import";
    ImportBlocked => "問題をすべて直したファイルを選び直して、もう一度プレビューしてください。", "Fix every problem in the file, choose it again and preview again.";
    ImportFixHint => "次の問題があるため取り込めません。ファイルの該当する行・列を直してください。", "The file cannot be imported because of the problems below. Fix these rows and columns in the file.";
    ImportEncoding => "文字コード", "Encoding";
    ImportRows => "行数", "Rows";
    ImportAdds => "追加", "Add";
    ImportUpdates => "更新", "Update";
    ImportUnchanged => "変更なし", "Unchanged";
    ImportProblems => "問題", "Problems";
    ImportIgnored => "使わない列", "Ignored columns";
    ImportDone => "取り込みました。", "Imported.";
    ImportRow => "行", "Row";
    ImportColumn => "列", "Column";
    ImportMessage => "内容", "Message";
    ImportAction => "処理", "Action";
    ImportActionAdd => "追加", "Add";
    ImportActionUpdate => "更新", "Update";
    ImportActionUnchanged => "変更なし", "Unchanged";
    DistIntro => "各利用者に証明書ファイル(.p12)とそのパスワードを別々の経路で渡します。1名ずつのダウンロード、選択した利用者の一括(ZIPとパスワード一覧)、または証明書受取ページ(利用者が自分で受け取る)から選べます。秘密鍵は暗号化して保管し、最初のダウンロードから24時間後に消去します。", "Hand each user their certificate file (.p12) and its password through separate channels: one at a time, a bundle for a selection (a ZIP and a separate password list), or the pickup page where users fetch their own. Private keys are kept encrypted and erased 24 hours after the first download.";
    DistProfile => "ファイルの保護方式", "File protection";
    DistProfileHint => "通常は「標準」を選びます。macOS 14以前のキーチェーン、iPhone/iPad、Windows 10 1709より前、Android 12以前で「パスワードが違う」と表示されて読み込めない場合は「互換」を選びます(3DESのため弱く、その分パスワードと受取期限で守ります)。", "Choose Modern normally. Choose Compatible when macOS Keychain 14 or older, iPhone/iPad, Windows before 10 1709 or Android 12 and older reports a wrong password and cannot import the file (3DES is weaker; the strong password and the short window protect it).";
    DistSaveDefault => "組織の既定にする", "Make this the organisation's default";
    DistKey => "秘密鍵", "Private key";
    DistKeyHeld => "保管中(未配付)", "Kept (not delivered)";
    DistKeyInWindow => "配付済み・再取得可", "Delivered, re-download until";
    DistKeyErased => "消去済み", "Erased";
    DistPickupColumn => "証明書受取", "Pickup";
    DistPickupNumber => "証明書番号", "Certificate number";
    DistPickupOpen => "受取待ち", "Waiting";
    DistPickupTaken => "受取済み", "Retrieved";
    DistPickupLocked => "ロック中", "Locked";
    DistPickupReset => "ロック解除", "Reset lock";
    DistPickupAt => "証明書受取ページ", "Pickup page";
    DistSingle => "ファイルを作成", "Prepare file";
    DistBundle => "一括ファイル(ZIP)を作成", "Prepare bundle (ZIP)";
    DistPickup => "受取用の番号とパスワードを発行", "Open pickups";
    DistTypedPassword => "パスワード(空欄なら自動生成)", "Password (leave empty to generate one)";
    DistTypedPasswordHint => "12文字以上、英字・数字・記号のうち2種類以上。自動生成は紛らわしい文字を除いた16文字です。", "At least 12 characters with two kinds of letters, digits, symbols. A generated one has 16 characters without look-alikes.";
    DistPrepare => "作成", "Prepare";
    DistReady => "準備ができました", "Ready";
    DistDownloadFile => "ファイルをダウンロード", "Download the file";
    DistSheet => "パスワード通知書を印刷", "Print the password sheet";
    DistPasswordsCsv => "パスワード一覧(CSV)", "Password list (CSV)";
    DistSeparateChannels => "ファイルとパスワードは必ず別々に渡してください(例: ファイルは社内共有、パスワードは手渡しの通知書)。", "Always hand over files and passwords separately (for example the file by the internal share, the password on the printed slip).";
    DistShownOnce => "パスワードはこの画面でのみ表示されます。控えてから閉じてください。", "The passwords are shown here only. Note them before you close this.";
    DistExpires => "ダウンロードの有効期限", "Downloads available until";
    DistMailPickups => "受取案内をメールで送る", "E-mail the pickup notices";
    DistMailPickupsHint => "各利用者のメールアドレスに、グループID・証明書番号・受取ページを送ります。受取パスワードは送りません(通知書で別に渡してください)。", "Sends each user their group ID, certificate number and the pickup page. The pickup password is not sent: hand it over on the printed slip.";
    DistMailed => "送信待ちにしたメール", "Mails queued";
    PickupTitle => "証明書の受け取り", "Pick up your certificate";
    PickupIntro => "管理者から届いたグループID・証明書番号・受取パスワードを入力して、証明書ファイル(.p12)をダウンロードしてください。ファイルは受取パスワードで保護されています。", "Enter the group ID, certificate number and pickup password your administrator sent you to download your certificate file (.p12). The file is protected by the pickup password.";
    PickupPassword => "受取パスワード", "Pickup password";
    PickupSubmit => "ダウンロード", "Download";
    PickupHowTitle => "取り込み方", "How to import it";
    PickupStep1 => "ダウンロードした .p12 ファイルをダブルクリックします(Windows: 証明書のインポート ウィザード、Mac: キーチェーンアクセス)。", "Double-click the downloaded .p12 file (Windows: Certificate Import Wizard; Mac: Keychain Access).";
    PickupStep2 => "パスワードを求められたら、受取パスワードを入力します。", "When asked for a password, enter the pickup password.";
    PickupStep3 => "ブラウザを再起動し、インターネットバンキングのログイン時にこの証明書を選びます。", "Restart the browser and choose this certificate when you log in to the bank.";
    PickupRefused => "受け取れませんでした。グループID・証明書番号・受取パスワードが正しくないか、受け取れない状態です(未作成、受取済みで24時間経過、期限切れ、または続けて間違えたためのロック)。通知書を見て入力し直し、それでも受け取れない場合は管理者に連絡してください。", "The certificate could not be picked up: the group ID, certificate number or pickup password is wrong, or the pickup is not available (not created yet, retrieved more than 24 hours ago, expired, or locked after repeated wrong passwords). Check your slip and try again; if it still fails, contact your administrator.";
    DistPickupExpiry => "未受取の受取の有効期限(日)", "Unopened pickups expire after (days)";
    DistPickupExpiryHint => "受取用の番号とパスワードを発行してから、一度も受け取られないままこの日数が過ぎると、受取を締め切り秘密鍵を消去します(1〜365日、既定14日)。", "When a pickup has not been used this many days after it was opened, it closes and the private key is erased (1–365 days, default 14).";
    DistSaveExpiry => "保存", "Save";
    DistFollowRun => "証明書ページで進み具合を見る", "See its progress on the Certificates page";
    PickupStep4 => "更新・再発行の後は古い証明書を削除してください。ダウンロードは最初の取得から24時間以内なら再度行えます。", "After a renewal or reissue, delete the old certificate. The download works again for 24 hours after the first one.";
    // Dashboard and notices (issue 4)
    DashCountsTitle => "証明書の状態別の利用者数", "Users by certificate state";
    BucketValid => "有効(更新期間前)", "Valid (renewal not open yet)";
    BucketWindow => "更新期間内(残り8日以上)", "In the renewal window (8+ days left)";
    BucketExpiring7 => "7日以内に期限切れ", "Expiring within 7 days";
    BucketExpired => "期限切れ", "Expired";
    BucketRevoked => "失効", "Revoked";
    BucketNone => "未発行", "Never issued";
    DashWindowBanner => "件の証明書が更新期間に入っています。有効期限が切れる前に更新してください(期限切れの証明書は更新できません)。", " certificate(s) are in the renewal window. Renew them before they expire (an expired certificate cannot be renewed).";
    DashRenewAll => "更新期間内の証明書をすべて更新", "Renew all in the window";
    DashRenewAllConfirm => "更新期間内のすべての証明書を更新します。よろしいですか。", "This renews every certificate in the renewal window. Go ahead?";
    DashRunTitle => "一括更新の進行状況", "Bulk renewal progress";
    DashRunCsv => "結果をダウンロード(CSV)", "Download the result (CSV)";
    DashChartTitle => "週ごとの有効期限(今後13か月)", "Expiries per week (next 13 months)";
    DashChartDesc => "棒1本が、1週間(月曜始まり・日本時間)に有効期限を迎える証明書の数です。", "Each bar is the number of certificates that expire in one week (Monday to Sunday, Japan time).";
    DashChartSummary => "今後13か月に有効期限を迎える証明書", "Certificates expiring in the next 13 months";
    DashChartBusiest => "最も多い週", "Busiest week";
    DashChartTable => "表で表示", "Show as a table";
    DashWeekOf => "週の開始日(月曜)", "Week of (Monday)";
    DashCount => "件数", "Certificates";
    DashUpcomingTitle => "有効期限が近い証明書(20件まで)", "Next expiries (up to 20)";
    DashNoUpcoming => "有効期限を迎える有効な証明書はありません。", "No valid certificate expires in this period.";
    DashNoticesTitle => "期限通知", "Renewal notices";
    DashNoNotices => "通知はまだありません。", "No notices yet.";
    DashNoticeAt => "通知の時期", "Notice";
    DashDaysBefore => "日前", " days before";
    DashNoticeRecorded => "記録日時(UTC)", "Recorded (UTC)";
    DashMailStatus => "メール", "Mail";
    MailPending => "送信待ち", "waiting";
    MailSent => "送信済み", "sent";
    MailFailed => "送信中止", "given up";
    MailNone => "送信なし", "not mailed";
    DashMailFailuresTitle => "送信できなかったメール", "Mail that could not be sent";
    DashMailRecipients => "宛先", "Recipients";
    DashMailAttempts => "試行回数", "Attempts";
    DashMailNextTry => "次回の再送(UTC)", "Next try (UTC)";
    DashMailGivenUp => "再送を中止しました", "Given up";
    CertFilterShowing => "絞り込み中", "Filtered";
    CertFilterShowAll => "すべて表示", "Show all";
    NotifyTitle => "通知", "Notifications";
    NotifyIntro => "有効期限が近づいた証明書を毎日確認して、ダッシュボードに表示し、メールで知らせます(起動時と、毎日指定の時刻(日本時間)に実行)。同じ証明書・同じ時期の通知は一度だけです。", "Every day certdesk looks for certificates nearing expiry, shows a notice on the dashboard and sends it by e-mail (at start-up and daily at the hour below, Japan time). Each certificate gets each notice once.";
    NotifyEmailEnabled => "メールで通知する", "Send notices by e-mail";
    NotifyFirstDays => "1回目の通知(有効期限の何日前)", "First notice (days before expiry)";
    NotifySecondDays => "2回目の通知(有効期限の何日前)", "Second notice (days before expiry)";
    NotifyUser => "証明書の利用者に送る(宛先)", "Send to the certificate's user (To)";
    NotifyAdmins => "マスターユーザ・管理者ユーザに送る(CC)", "Send to master and admin users (Cc)";
    NotifyExtra => "その他の宛先(カンマ区切り、CC)", "Other recipients (comma separated, Cc)";
    NotifyHour => "毎日の実行時刻(日本時間、0〜23時)", "Daily run hour (Japan time, 0 to 23)";
    SmtpTitle => "メールサーバ(SMTP)", "Mail server (SMTP)";
    SmtpHost => "ホスト名", "Host";
    SmtpPort => "ポート番号", "Port";
    SmtpSecurityLabel => "暗号化", "Security";
    SmtpStartTls => "STARTTLS(通常587番)", "STARTTLS (usually port 587)";
    SmtpTls => "TLS(通常465番)", "TLS (usually port 465)";
    SmtpNone => "なし(同じ機器・閉じたネットワーク内のみ)", "None (same machine or closed network only)";
    SmtpUser => "ユーザ名", "User name";
    SmtpPassword => "SMTPパスワード", "SMTP password";
    SmtpPasswordHint => "空欄のままなら保存済みのパスワードを使います。暗号化して保存され、画面やログには表示されません。", "Leave empty to keep the stored one. It is stored encrypted and never shown or logged.";
    SmtpPasswordStored => "パスワード保存済み", "A password is stored";
    SmtpPasswordClear => "保存済みのパスワードを削除する", "Remove the stored password";
    SmtpFrom => "差出人アドレス", "Sender address";
    MailTestTo => "テストメールの宛先(空欄なら自分)", "Test mail to (empty: yourself)";
    MailTestSend => "テストメールを送信", "Send test mail";
    MailTestSent => "テストメールを送信しました", "Test mail sent to";
    MailTestHint => "保存済みの設定で送信します。先に「保存」を押してください。", "Uses the saved settings: press Save first.";
    MailTestOwnOnly => "テストメールはサインインしている自分のメールアドレスにだけ送ります。", "A test mail goes only to your own address (the signed-in user's).";
    SmtpSecretFollowsDestination => "SMTPサーバのホスト名・ポート・ユーザ名のどれかを変えると、保存済みのパスワードは破棄されます。続けて使う場合はパスワードも入力してください。", "Changing the SMTP host, port or user name drops the stored password unless you type it again.";
    ExtCaAuthKeyFollowsUrl => "CAのURLを変えると、保存済みのHMAC認証キーは破棄されます。続けて使う場合はキーも入力してください。", "Changing the CA URL drops the stored HMAC key unless you type it again.";
    ExtCaProxyPasswordFollowsProxy => "プロキシのURLかユーザ名を変えると、保存済みのプロキシのパスワードは破棄されます。続けて使う場合はパスワードも入力してください。", "Changing the proxy URL or user drops the stored proxy password unless you type it again.";
    // Self-service enrolment in the console (issue 17)
    EnrolChannel => "登録コード", "Enrolment codes";
    EnrolTitle => "登録コードの発行", "Open enrolments";
    EnrolIntro => "選んだ利用者ごとに登録番号と一度だけ使える登録コードを発行します。利用者は登録ページ(/enroll)で自分のブラウザの中で秘密鍵を作り、証明書ファイル(.p12)を保存します。秘密鍵はサーバには送られません。", "Opens an enrolment number and a one-time code for each selected user. The user makes the private key in their own browser on the enrolment page (/enroll) and saves the certificate file (.p12); the key never reaches the server.";
    EnrolReissue => "有効な証明書を持つ利用者は再発行とする(新しい証明書の保存後に古い証明書を失効)", "Reissue for users who hold a valid certificate (the old one is revoked once the new one is saved)";
    EnrolOpen => "発行する", "Open";
    EnrolCodesReady => "登録コードを発行しました", "Enrolments opened";
    EnrolShownOnce => "登録コードはこの画面と通知書でのみ表示されます。通知書を印刷してから閉じてください。", "The codes are shown only here and on the slips. Print the slips before you close this.";
    EnrolNumber => "登録番号", "Enrolment number";
    EnrolCode => "登録コード", "Enrolment code";
    EnrolValidUntil => "有効期限(UTC)", "Valid until (UTC)";
    EnrolPrintSlips => "通知書を印刷する", "Print the slips";
    EnrolMail => "登録案内をメールで送る", "E-mail the enrolment notices";
    EnrolMailHint => "各利用者のメールアドレスに、登録ページ・グループID・登録番号を送ります。登録コードは送りません(通知書で別に渡してください)。", "Sends each user the enrolment page, group ID and number. The code is not sent: hand it over on the printed slip.";
    EnrolListTitle => "登録の状況", "Enrolments";
    EnrolNone => "発行した登録はありません。", "No enrolments yet.";
    EnrolState => "状態", "State";
    EnrolKind => "種別", "Kind";
    EnrolKindIssue => "新規", "Issue";
    EnrolKindReissue => "再発行", "Reissue";
    EnrolFailures => "誤入力", "Wrong codes";
    EnrolReset => "ロック解除(新しいコード)", "Reset (new code)";
    EnrolKeyByHolder => "鍵は本人が作成", "Key made by the holder";
    EnrolSettingsTitle => "証明書の自己登録", "Self-service enrolment";
    EnrolSettingsIntro => "登録コードの有効期間と、利用者自身による更新(インストール確認ページの「更新する」)を設定します(マスターユーザのみ)。", "How long an enrolment code stays valid, and whether holders may renew by themselves (\"Renew now\" on the check page). Masters only.";
    EnrolValidityDays => "登録コードの有効期間(日、1〜90)", "Enrolment codes valid for (days, 1 to 90)";
    EnrolSelfRenewal => "利用者自身による更新を許可する", "Let holders renew by themselves";
    DashSelfRenewed => "利用者自身が更新した証明書", "Certificates renewed by their holders";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_has_a_text_in_both_languages() {
        for &key in Key::ALL {
            assert!(!t(Lang::Ja, key).is_empty(), "{key:?} ja");
            assert!(!t(Lang::En, key).is_empty(), "{key:?} en");
        }
    }

    #[test]
    fn japanese_and_english_texts_differ_except_the_product_name() {
        for &key in Key::ALL {
            if key != Key::AppName {
                assert_ne!(t(Lang::Ja, key), t(Lang::En, key), "{key:?}");
            }
        }
    }

    #[test]
    fn stored_identifiers_are_shown_in_both_languages() {
        assert_eq!(audit_action_label(Lang::Ja, "sign_in"), "サインイン");
        assert_eq!(
            audit_action_label(Lang::En, "certificate_reissue"),
            "Certificate reissued"
        );
        assert_eq!(
            audit_action_label(Lang::En, "ca_request_reconciled"),
            "Unanswered request: revoked at the CA"
        );
        assert_eq!(
            audit_action_label(Lang::Ja, "something_new"),
            "something_new"
        );
        assert_eq!(
            identifier_label(Lang::En, "reissue"),
            "Certificate reissued"
        );
        assert_eq!(
            identifier_label(Lang::En, "key_compromise"),
            "Key compromise (lost or stolen PC)"
        );
        assert_eq!(identifier_label(Lang::Ja, "something_new"), "something_new");
    }

    #[test]
    fn the_language_cookie_is_read_from_a_cookie_header() {
        assert_eq!(
            lang_from_cookie_header("a=b; certdesk_lang=en"),
            Some(Lang::En)
        );
        assert_eq!(lang_from_cookie_header("certdesk_lang=ja"), Some(Lang::Ja));
        assert_eq!(lang_from_cookie_header("certdesk_lang=xx; other=1"), None);
        assert_eq!(lang_from_cookie_header(""), None);
    }
}
