//! The One-time password page (ワンタイムパスワード): enrolment (QR code drawn on the server and
//! the Base32 secret, one correct code completes it, then the 10 recovery codes once), time
//! sync, and for masters the policy, the step-up window and resetting another user's OTP.
//! Standalone (no console frame), because a user the policy sends here may do nothing else.

use crate::components::ActionForm;
use crate::components::{bi, navigate_hard, ErrorBanner, StandaloneHeader, StepUp, StepUpDialog};
use crate::error::UiError;
use crate::i18n::use_lang;
use crate::server_fns::otp::{
    otp_enrol_confirm, otp_enrol_start, otp_page, otp_resync, reset_otp, save_otp_settings,
    EnrolmentView, OtpPageData,
};
use crate::server_fns::SignOut;
use certdesk_domain::otp::OtpPolicy;
use leptos::prelude::*;

#[derive(Debug, Clone, PartialEq)]
enum Enrol {
    Idle,
    Started(EnrolmentView),
    Done(Vec<String>),
}

fn input(
    id: &'static str,
    label: impl Fn() -> &'static str + Send + Sync + 'static,
    value: RwSignal<String>,
) -> impl IntoView {
    view! {
        <div class="field">
            <label for=id>{label}</label>
            <input id=id data-testid=id inputmode="numeric" autocomplete="one-time-code"
                prop:value=move || value.get() on:input=move |ev| value.set(event_target_value(&ev))/>
        </div>
    }
}

#[component]
fn Enrolment(data: OtpPageData, reload: RwSignal<u32>) -> impl IntoView {
    let step_up = StepUp::get();
    let state = RwSignal::new(Enrol::Idle);
    let code = RwSignal::new(String::new());
    let error = RwSignal::new(None::<UiError>);
    let start = move || {
        error.set(None);
        leptos::task::spawn_local(async move {
            match step_up.guard(otp_enrol_start).await {
                Ok(view) => state.set(Enrol::Started(view)),
                Err(e) => error.set(Some(e)),
            }
        });
    };
    let confirm = move || {
        let typed = code.get_untracked();
        error.set(None);
        leptos::task::spawn_local(async move {
            match otp_enrol_confirm(typed).await {
                Ok(codes) => {
                    code.set(String::new());
                    state.set(Enrol::Done(codes));
                }
                Err(e) => error.set(Some(e)),
            }
        });
    };
    let enrolled = data.enrolled;
    view! {
        <section class="card" data-testid="otp-enrolment">
            <h2>{bi("登録", "Set up")}</h2>
            {move || match state.get() {
                Enrol::Idle => view! {
                    <p>{if enrolled {
                        bi("別の端末に切り替えるときは登録し直します(新しい秘密鍵になり、古い端末のコードは使えなくなります)。", "To move to another device, set it up again (a new secret; the old device's codes stop working).")
                    } else {
                        bi("Google Authenticator、Microsoft Authenticator などの認証アプリ(TOTP、30秒・6桁)を使います。", "Use an authenticator app (TOTP, 30 s, 6 digits) such as Google Authenticator or Microsoft Authenticator.")
                    }}</p>
                    <button type="button" class="primary" data-testid="otp-start" on:click=move |_| start()>
                        {if enrolled { bi("登録し直す", "Set up again") } else { bi("登録を始める", "Start") }}
                    </button>
                }.into_any(),
                Enrol::Started(view) => view! {
                    <ol>
                        <li>{bi("認証アプリでこのQRコードを読み取るか、秘密鍵を手で入力してください。", "Scan this QR code with the app, or type the secret.")}</li>
                    </ol>
                    <div class="otp-qr" data-testid="otp-qr" inner_html=view.qr_svg.clone()></div>
                    <p>{bi("秘密鍵(Base32): ", "Secret (Base32): ")}<code data-testid="otp-secret">{view.secret.clone()}</code></p>
                    <form on:submit=move |ev| { ev.prevent_default(); confirm(); } data-testid="otp-confirm-form">
                        {input("otp-confirm-code", bi("アプリに表示された6桁", "The 6 digits the app shows"), code)}
                        <button type="submit" class="primary" data-testid="otp-confirm">{bi("登録を完了する", "Complete the set-up")}</button>
                    </form>
                }.into_any(),
                Enrol::Done(codes) => view! {
                    <p class="ok" role="status" data-testid="otp-enrolled">{bi("ワンタイムパスワードを登録しました。", "The one-time password is set up.")}</p>
                    <p class="notice">{bi("リカバリーコード(各1回のみ、この画面でしか表示されません)。印刷して安全な場所に保管してください。端末を失くしたとき、ワンタイムパスワードの代わりに使えます。", "Recovery codes (each works once; shown only now). Print them and keep them safe: each replaces a one-time password if you lose your device.")}</p>
                    <ol class="recovery-codes" data-testid="recovery-codes">
                        {codes.into_iter().map(|c| view! { <li><code>{c}</code></li> }).collect_view()}
                    </ol>
                    <p>
                        <button type="button" on:click=move |_| {
                            #[cfg(feature = "hydrate")]
                            { let _ = window().print(); }
                        }>{bi("印刷", "Print")}</button>
                        " "
                        <a href="/" rel="external" class="button primary" data-testid="otp-continue"
                            on:click=move |_| reload.update(|n| *n += 1)>{bi("コンソールへ", "To the console")}</a>
                    </p>
                }.into_any(),
            }}
            {move || error.get().map(|e| view! { <ErrorBanner error=e/> })}
        </section>
    }
}

#[component]
fn TimeSync() -> impl IntoView {
    let first = RwSignal::new(String::new());
    let second = RwSignal::new(String::new());
    let result = RwSignal::new(None::<Result<(), UiError>>);
    view! {
        <section class="card" data-testid="otp-time-sync">
            <h2>{bi("時刻同期", "Time sync")}</h2>
            <p>{bi("正しいコードが通らないときは、表示中の6桁と次に表示される6桁を入力してください。前後10分の範囲で探し、ずれを記録します。", "If correct codes are refused, enter the code shown now and the next one. certdesk searches 10 minutes either way and records the drift.")}</p>
            <form on:submit=move |ev| {
                ev.prevent_default();
                let (a, b) = (first.get_untracked(), second.get_untracked());
                leptos::task::spawn_local(async move { result.set(Some(otp_resync(a, b).await)); });
            }>
                {input("otp-sync-first", bi("現在のワンタイムパスワード", "Code shown now"), first)}
                {input("otp-sync-next", bi("次のワンタイムパスワード", "The next code"), second)}
                <button type="submit">{bi("時刻同期", "Sync")}</button>
            </form>
            {move || match result.get() {
                Some(Ok(())) => Some(view! { <p class="ok" role="status">{bi("時刻同期しました。", "Synchronised.")}</p> }.into_any()),
                Some(Err(e)) => Some(view! { <ErrorBanner error=e/> }.into_any()),
                None => None,
            }}
        </section>
    }
}

#[component]
fn MasterSettings(data: OtpPageData) -> impl IntoView {
    let lang = use_lang();
    let step_up = StepUp::get();
    let policy = RwSignal::new(data.policy.as_str().to_string());
    let minutes = RwSignal::new(data.step_up_minutes.to_string());
    let saved = RwSignal::new(None::<Result<(), UiError>>);
    let login = RwSignal::new(String::new());
    let reset = RwSignal::new(None::<Result<(), UiError>>);
    view! {
        <section class="card" data-testid="otp-settings">
            <h2>{bi("方針(マスターユーザのみ)", "Policy (masters only)")}</h2>
            <form on:submit=move |ev| {
                ev.prevent_default();
                let (p, m) = (policy.get_untracked(), minutes.get_untracked());
                leptos::task::spawn_local(async move {
                    let r = step_up.guard(|| save_otp_settings(p.clone(), m.clone())).await;
                    saved.set(Some(r));
                });
            }>
                <div class="field">
                    <label for="otp-policy">{bi("ワンタイムパスワード", "One-time password")}</label>
                    <select id="otp-policy" data-testid="otp-policy" on:change=move |ev| policy.set(event_target_value(&ev))>
                        {OtpPolicy::ALL.into_iter().map(|p| {
                            let label = p.label();
                            view! { <option value=p.as_str() selected=data.policy == p>{move || label.in_lang(lang.get()).to_string()}</option> }
                        }).collect_view()}
                    </select>
                </div>
                <div class="field">
                    <label for="otp-step-up">{bi("再確認の間隔(分、1〜720)", "Re-check interval (minutes, 1-720)")}</label>
                    <input id="otp-step-up" name="step_up_minutes" inputmode="numeric" prop:value=move || minutes.get()
                        on:input=move |ev| minutes.set(event_target_value(&ev))/>
                    <small class="hint">{bi("発行・再発行・失効・.p12の書き出し・CAとメールの設定変更の前に、この時間より前の確認ならワンタイムパスワードを求めます。", "Issuing, reissuing, revoking, exporting .p12 files and changing the CA or mail settings ask for a code when the last check is older than this.")}</small>
                </div>
                <button type="submit" class="primary">{bi("保存", "Save")}</button>
            </form>
            {move || match saved.get() {
                Some(Ok(())) => Some(view! { <p class="ok" role="status">{bi("保存しました。", "Saved.")}</p> }.into_any()),
                Some(Err(e)) => Some(view! { <ErrorBanner error=e/> }.into_any()),
                None => None,
            }}
            <h2>{bi("他の利用者のワンタイムパスワードをリセット", "Reset another user's one-time password")}</h2>
            <p class="hint">{bi("端末を失くした利用者のワンタイムパスワードとリカバリーコードを削除します(監査ログに残ります)。利用者は次回のサインインで登録し直します。", "Removes the one-time password and recovery codes of a user who lost the device (audited). The user sets it up again at the next sign-in.")}</p>
            <form on:submit=move |ev| {
                ev.prevent_default();
                let l = login.get_untracked();
                leptos::task::spawn_local(async move {
                    let r = step_up.guard(|| reset_otp(l.clone())).await;
                    reset.set(Some(r));
                });
            }>
                <div class="field">
                    <label for="otp-reset-login">{bi("ログインID", "Login ID")}</label>
                    <input id="otp-reset-login" data-testid="otp-reset-login" prop:value=move || login.get()
                        on:input=move |ev| login.set(event_target_value(&ev))/>
                </div>
                <button type="submit">{bi("リセット", "Reset")}</button>
            </form>
            {move || match reset.get() {
                Some(Ok(())) => Some(view! { <p class="ok" role="status">{bi("リセットしました。", "Reset.")}</p> }.into_any()),
                Some(Err(e)) => Some(view! { <ErrorBanner error=e/> }.into_any()),
                None => None,
            }}
        </section>
    }
}

/// The One-time password page.
#[component]
pub fn OtpPage() -> impl IntoView {
    StepUp::provide();
    let reload = RwSignal::new(0u32);
    let data = crate::codec::page_resource(move || reload.get(), |_| otp_page());
    let sign_out = ServerAction::<SignOut>::new();
    Effect::new(move |_| {
        if let Some(Ok(())) = sign_out.value().get() {
            navigate_hard("/login");
        }
    });
    view! {
        <div class="standalone">
            <StandaloneHeader/>
            <main class="card">
                <h1>{bi("ワンタイムパスワード", "One-time password")}</h1>
                <Suspense fallback=|| ()>
                    {move || data.get().map(|r| match r {
                        Err(e) => view! { <ErrorBanner error=e/> }.into_any(),
                        Ok(d) => {
                            let status = if d.enrolled {
                                view! {
                                    <p data-testid="otp-status" data-enrolled="true">
                                        {bi("登録済み。残りのリカバリーコード: ", "Set up. Recovery codes left: ")}{d.recovery_left}
                                        {(d.drift_secs != 0).then(|| view! { " · " {bi("時計のずれ(秒): ", "Clock drift (s): ")} {d.drift_secs} })}
                                    </p>
                                }.into_any()
                            } else {
                                view! { <p data-testid="otp-status" data-enrolled="false">{bi("未登録です。", "Not set up.")}</p> }.into_any()
                            };
                            view! {
                                {d.must_enrol.then(|| view! {
                                    <p class="notice" role="status" data-testid="otp-must-enrol">{bi("ワンタイムパスワードの登録が必須になっています。登録が終わるまで他の操作はできません。", "A one-time password is required for your role. Nothing else is available until it is set up.")}</p>
                                })}
                                {status}
                                <Enrolment data=d.clone() reload=reload/>
                                {d.enrolled.then(|| view! { <TimeSync/> })}
                                {d.is_master.then(|| view! { <MasterSettings data=d.clone()/> })}
                                <p>
                                    {(!d.must_enrol).then(|| view! { <a href="/" rel="external">{bi("コンソールへ戻る", "Back to the console")}</a> " " })}
                                </p>
                            }.into_any()
                        }
                    })}
                </Suspense>
                <ActionForm action=sign_out attr:class="inline-form">
                    <button type="submit" data-testid="sign-out">{bi("サインアウト", "Sign out")}</button>
                </ActionForm>
            </main>
            <StepUpDialog/>
        </div>
    }
}
