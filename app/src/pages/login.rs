use crate::components::ActionForm;
use crate::components::{bi, navigate_hard, FormErrorBanner, StandaloneHeader, TextField};
use crate::error::UiError;
use crate::i18n::{tr, use_lang, Key};
use crate::server_fns::otp::{OtpResync, OtpSignIn};
use crate::server_fns::SignIn;
use certdesk_domain::otp::SignInNext;
use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

/// A plain input for a code, with its error (if the server named this field) below it.
fn code_field(
    label: impl Fn() -> &'static str + Send + Sync + 'static,
    name: &'static str,
    error: Signal<Option<UiError>>,
) -> impl IntoView {
    let lang = use_lang();
    let id = format!("field-{name}");
    let mine = move || error.get().filter(|e| e.field.as_deref() == Some(name));
    view! {
        <div class="field" class:field-invalid=move || mine().is_some()>
            <label for=id.clone()>{label}</label>
            <input id=id name=name type="text" inputmode="numeric" autocomplete="one-time-code"
                required=true data-testid=format!("otp-{name}")/>
            <p class="field-error" role="alert">
                {move || mine().map(|e| view! {
                    <span class="error-code">{e.code.clone()}</span> " " {e.message.in_lang(lang.get()).to_string()}
                })}
            </p>
        </div>
    }
}

/// The second step: the one-time password (or a recovery code), or time sync.
#[component]
fn CodeStep() -> impl IntoView {
    let action = ServerAction::<OtpSignIn>::new();
    let resync = ServerAction::<OtpResync>::new();
    let syncing = RwSignal::new(false);
    let error = Signal::derive(move || action.value().get().and_then(Result::err));
    let resync_error = Signal::derive(move || resync.value().get().and_then(Result::err));
    let recovery_left = RwSignal::new(None::<u32>);
    Effect::new(move |_| {
        if let Some(Ok(done)) = action.value().get() {
            match done.recovery_left {
                Some(left) => recovery_left.set(Some(left)),
                None => navigate_hard("/"),
            }
        }
    });
    Effect::new(move |_| {
        if let Some(Ok(())) = resync.value().get() {
            navigate_hard("/");
        }
    });
    view! {
        {move || match recovery_left.get() {
            Some(left) => view! {
                <div data-testid="recovery-used">
                    <p class="notice" role="status">
                        {bi("リカバリーコードでサインインしました。残りのリカバリーコード: ", "Signed in with a recovery code. Recovery codes left: ")}
                        <strong data-testid="recovery-left">{left}</strong>
                    </p>
                    <p class="hint">{bi("端末を失くした場合は、マスターユーザにワンタイムパスワードのリセットを依頼し、登録し直してください。", "If you lost your device, ask a master user to reset your one-time password, then set it up again.")}</p>
                    <p><a href="/" rel="external" class="button primary" data-testid="continue">{bi("続ける", "Continue")}</a></p>
                </div>
            }.into_any(),
            None => view! {
                <Show when=move || !syncing.get() fallback=move || view! {
                    <p>{bi("端末の時計がずれていると、正しいワンタイムパスワードが通りません。認証アプリに表示されている6桁と、その次に表示される6桁を続けて入力してください(前後10分の範囲で探します)。", "If the device's clock is off, correct codes are refused. Enter the code the app shows now and the next one it shows (certdesk searches 10 minutes either way).")}</p>
                    <ActionForm action=resync attr:data-testid="otp-resync-form">
                        <FormErrorBanner error=resync_error/>
                        {code_field(bi("現在のワンタイムパスワード", "Code shown now"), "code", resync_error)}
                        {code_field(bi("次のワンタイムパスワード", "The next code"), "next_code", resync_error)}
                        <button type="submit" class="primary">{bi("時刻同期してサインイン", "Sync and sign in")}</button>
                    </ActionForm>
                    <p><button type="button" class="small" on:click=move |_| syncing.set(false)>{bi("戻る", "Back")}</button></p>
                }>
                    <p>{bi("認証アプリに表示されている6桁のワンタイムパスワードを入力してください。端末がない場合は、リカバリーコード(XXXXX-XXXXX)を入力できます。", "Enter the 6-digit one-time password your authenticator app shows. Without your device, enter a recovery code (XXXXX-XXXXX).")}</p>
                    <ActionForm action=action attr:data-testid="otp-form">
                        <FormErrorBanner error=error/>
                        {code_field(bi("ワンタイムパスワード", "One-time password"), "code", error)}
                        <button type="submit" class="primary" data-testid="otp-submit" disabled=move || action.pending().get()>
                            {bi("確認", "Verify")}
                        </button>
                    </ActionForm>
                    <p><button type="button" class="small" data-testid="otp-resync" on:click=move |_| syncing.set(true)>
                        {bi("コードが通らない場合(時刻同期)", "Codes refused? Time sync")}
                    </button></p>
                </Show>
            }.into_any(),
        }}
    }
}

/// Sign-in for masters and admins: the password, then the one-time password if the user has one.
#[component]
pub fn LoginPage() -> impl IntoView {
    let action = ServerAction::<SignIn>::new();
    let error = Signal::derive(move || action.value().get().and_then(Result::err));
    let query = use_query_map();
    let expired = move || query.read().get("expired").is_some() && action.value().get().is_none();
    let code_step = move || {
        matches!(action.value().get(), Some(Ok(SignInNext::Code)))
            || (query.read().get("step").as_deref() == Some("code")
                && action.value().get().is_none())
    };
    Effect::new(move |_| match action.value().get() {
        Some(Ok(SignInNext::Done)) => navigate_hard("/"),
        Some(Ok(SignInNext::Enrol)) => navigate_hard("/otp"),
        _ => {}
    });
    view! {
        <div class="standalone">
            <StandaloneHeader/>
            <main class="card narrow">
                <h1>{tr(Key::LoginTitle)}</h1>
                <Show when=code_step fallback=move || view! {
                    <p>{tr(Key::LoginIntro)}</p>
                    <Show when=expired>
                        <p class="notice" role="status">{tr(Key::LoginSessionEnded)}</p>
                    </Show>
                    <ActionForm action=action attr:data-testid="login-form">
                        <FormErrorBanner error=error/>
                        <TextField label=Key::FieldLoginId name="login_id" error=error autocomplete="username" required=true/>
                        <TextField label=Key::FieldPassword name="password" kind="password" error=error autocomplete="current-password" required=true/>
                        <button type="submit" class="primary" disabled=move || action.pending().get()>
                            {move || if action.pending().get() { tr(Key::Working)() } else { tr(Key::LoginSubmit)() }}
                        </button>
                    </ActionForm>
                }>
                    <CodeStep/>
                </Show>
            </main>
        </div>
    }
}
