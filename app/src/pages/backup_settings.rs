//! Settings → Scheduled backups (masters only): the folder, the interval and how many to keep.
//! Saved values win over `serve --backup-dir/--backup-every/--backup-keep`, which are in
//! effect until a master saves this form; an empty folder turns scheduled backups off.

use crate::components::ActionForm;
use crate::components::{bi, ErrorBanner, FormErrorBanner};
use crate::error::UiError;
use crate::i18n::{tr, use_lang, Key};
use crate::server_fns::backup::{load_backup_schedule, SaveBackupSchedule};
use certdesk_domain::backup::{BackupScheduleView, ScheduleSource};
use leptos::prelude::*;

#[component]
fn Field(
    ja: &'static str,
    en: &'static str,
    name: &'static str,
    value: String,
    hint_ja: &'static str,
    hint_en: &'static str,
    error: Signal<Option<UiError>>,
) -> impl IntoView {
    let lang = use_lang();
    let id = format!("field-{name}");
    let mine = move || error.get().filter(|e| e.field.as_deref() == Some(name));
    view! {
        <div class="field" class:field-invalid=move || mine().is_some()>
            <label for=id.clone()>{bi(ja, en)}</label>
            <input id=id name=name type="text" value=value autocomplete="off"/>
            <small class="hint">{bi(hint_ja, hint_en)}</small>
            <p class="field-error" role="alert">
                {move || mine().map(|e| view! { <span class="error-code">{e.code.clone()}</span> " " {e.message.in_lang(lang.get()).to_string()} })}
            </p>
        </div>
    }
}

#[component]
fn BackupForm(view_: BackupScheduleView) -> impl IntoView {
    let action = ServerAction::<SaveBackupSchedule>::new();
    let error = Signal::derive(move || action.value().get().and_then(Result::err));
    let form = NodeRef::<leptos::html::Form>::new();
    crate::components::resubmit_after_step_up(move || action.value().get(), form);
    let initial = StoredValue::new(view_);
    let shown = move || {
        action
            .value()
            .get()
            .and_then(Result::ok)
            .unwrap_or_else(|| initial.get_value())
    };
    let source = move || {
        match shown().source {
        ScheduleSource::Saved => bi("この画面で保存した設定が有効です。", "The settings saved here are in effect.")(),
        ScheduleSource::CommandLine => bi(
            "serve --backup-dir などの起動時の設定が有効です。ここで保存すると、以後はこちらが優先されます。",
            "The server's start options (serve --backup-dir ...) are in effect. Once saved here, these settings win.",
        )(),
        ScheduleSource::None => bi("定期バックアップは設定されていません。", "No scheduled backups are set.")(),
    }
    };
    let v = shown();
    view! {
        <ActionForm action=action node_ref=form attr:data-testid="backup-schedule-form">
            <FormErrorBanner error=error/>
            <p class="hint" data-testid="backup-schedule-source">{source}</p>
            {(!v.passphrase_set).then(|| view! {
                <p class="error-banner" role="alert" data-testid="backup-no-passphrase">{bi(
                    "サーバに CERTDESK_BACKUP_PASSPHRASE が設定されていないため、定期バックアップは実行されません。/etc/certdesk/certdesk.env に設定してサーバを再起動してください。",
                    "The server has no CERTDESK_BACKUP_PASSPHRASE, so no scheduled backup runs. Set it in /etc/certdesk/certdesk.env and restart the server.",
                )}</p>
            })}
            <Field ja="保存先フォルダ(空欄で定期バックアップを止めます)" en="Folder (empty: no scheduled backups)" name="backup_dir" value=v.dir.clone()
                hint_ja="サーバ上の絶対パス。データディレクトリの外、できれば別のディスク。" hint_en="An absolute path on the server, outside the data directory, ideally on another disk." error=error/>
            <Field ja="間隔" en="Interval" name="backup_every" value=v.every.clone()
                hint_ja="数字と単位: 30m(分)、12h(時間)、7d(日)。1m から 366d まで。" hint_en="A number and a unit: 30m, 12h, 7d; from 1m to 366d." error=error/>
            <Field ja="保存する数" en="How many to keep" name="backup_keep" value=v.keep.to_string()
                hint_ja="新しいものからこの数だけ残し、古いものは削除します(1〜1000)。" hint_en="The newest this many are kept, older ones deleted (1 to 1000)." error=error/>
            <button type="submit" class="primary" data-testid="backup-schedule-save" disabled=move || action.pending().get()>{tr(Key::Save)}</button>
            <Show when=move || matches!(action.value().get(), Some(Ok(_)))><span class="ok" role="status" data-testid="backup-schedule-saved">" " {tr(Key::Saved)}</span></Show>
        </ActionForm>
    }
}

/// The section of the Settings page; nothing for admins (the schedule is a master's).
#[component]
pub fn BackupScheduleSection() -> impl IntoView {
    let schedule = crate::codec::page_resource(|| (), |_| load_backup_schedule());
    view! {
        <Suspense fallback=move || view! { <p>{tr(Key::Loading)}</p> }>
            {move || schedule.get().map(|r| match r {
                Ok(v) => view! {
                    <section data-testid="backup-schedule">
                        <h2>{bi("定期バックアップ", "Scheduled backups")}</h2>
                        <p class="hint">{bi(
                            "サーバが暗号化したバックアップ(certdesk-日時.age)を定期的に作成します。パスフレーズはサーバの CERTDESK_BACKUP_PASSPHRASE です。",
                            "The server writes encrypted backups (certdesk-<time>.age) on a schedule, with the passphrase in the server's CERTDESK_BACKUP_PASSPHRASE.",
                        )}</p>
                        <BackupForm view_=v/>
                    </section>
                }.into_any(),
                Err(e) if e.code == "E-AUTH-004" => ().into_any(),
                Err(e) => view! { <ErrorBanner error=e/> }.into_any(),
            })}
        </Suspense>
    }
}
