//! Settings: the issuing profile, the CA used for issuing (built-in or cfssl) with its
//! connection test, notifications (thresholds, recipients, SMTP, test mail), and the CA
//! certificate for relying parties.

use crate::components::ActionForm;
mod enrolment;

use crate::components::{ErrorBanner, FormErrorBanner};
use crate::i18n::{tr, use_lang, Key};
use crate::server_fns::certificates::{
    load_ca_backend, load_issuing_profile, SaveCaBackend, SaveIssuingProfile, TestCaConnection,
};
use crate::server_fns::dashboard::{
    load_notification_settings, SaveNotificationSettings, SendTestMail,
};
use certdesk_domain::external_ca::{CaBackendKind, CaBackendView, KeySource};
use certdesk_domain::notices::{NotificationSettings, SmtpSecurity};
use certdesk_domain::profile::{IssuingProfile, KeyType};
use leptos::prelude::*;

#[component]
fn NumberField(
    label: Key,
    name: &'static str,
    value: u32,
    error: Signal<Option<crate::error::UiError>>,
) -> impl IntoView {
    let lang = use_lang();
    let id = format!("field-{name}");
    let mine = move || error.get().filter(|e| e.field.as_deref() == Some(name));
    view! {
        <div class="field" class:field-invalid=move || mine().is_some()>
            <label for=id.clone()>{tr(label)}</label>
            <input id=id name=name type="text" inputmode="numeric" value=value.to_string()/>
            <p class="field-error" role="alert">
                {move || mine().map(|e| view! { <span class="error-code">{e.code.clone()}</span> " " {e.message.in_lang(lang.get()).to_string()} })}
            </p>
        </div>
    }
}

#[component]
fn ProfileForm(profile: IssuingProfile) -> impl IntoView {
    let lang = use_lang();
    let action = ServerAction::<SaveIssuingProfile>::new();
    let error = Signal::derive(move || action.value().get().and_then(Result::err));
    let saved = move || matches!(action.value().get(), Some(Ok(())));
    let text_error = move |name: &'static str| {
        move || {
            error.get().filter(|e| e.field.as_deref() == Some(name)).map(|e| view! {
        <span class="error-code">{e.code.clone()}</span> " " {e.message.in_lang(lang.get()).to_string()}
    })
        }
    };
    view! {
        <ActionForm action=action attr:data-testid="profile-form">
            <FormErrorBanner error=error/>
            <NumberField label=Key::ProfileValidity name="validity_days" value=profile.validity_days error=error/>
            <NumberField label=Key::ProfileWindow name="renewal_window_days" value=profile.renewal_window_days error=error/>
            <div class="field">
                <label for="field-key_type">{tr(Key::CertKeyType)}</label>
                <select id="field-key_type" name="key_type">
                    {[KeyType::Rsa2048, KeyType::EcdsaP256].into_iter().map(|k| view! {
                        <option value=k.as_str() selected=k == profile.key_type>{k.label()}</option>
                    }).collect_view()}
                </select>
                <small class="hint">{tr(Key::ProfileKeyTypeHint)}</small>
            </div>
            <div class="field">
                <label for="field-friendly_name_template">{tr(Key::CertFriendlyName)}</label>
                <input id="field-friendly_name_template" name="friendly_name_template" value=profile.friendly_name_template.clone()/>
                <small class="hint">{tr(Key::ProfileFriendlyHint)}</small>
                <p class="field-error" role="alert">{text_error("friendly_name_template")}</p>
            </div>
            <div class="field">
                <label for="field-ca_name">{tr(Key::ProfileCaName)}</label>
                <input id="field-ca_name" name="ca_name" value=profile.ca_name.clone()/>
                <small class="hint">{tr(Key::ProfileCaNameHint)}</small>
                <p class="field-error" role="alert">{text_error("ca_name")}</p>
            </div>
            <NumberField label=Key::ProfileCrlDays name="crl_next_update_days" value=profile.crl_next_update_days error=error/>
            <button type="submit" class="primary" disabled=move || action.pending().get()>{tr(Key::Save)}</button>
            <Show when=saved><span class="ok" role="status" data-testid="profile-saved">" " {tr(Key::Saved)}</span></Show>
        </ActionForm>
    }
}

/// A text input with its label, hint and the error of its field.
#[component]
fn TextField(
    label: Key,
    name: &'static str,
    value: String,
    #[prop(optional)] hint: Option<Key>,
    #[prop(optional)] kind: Option<&'static str>,
    error: Signal<Option<crate::error::UiError>>,
) -> impl IntoView {
    let lang = use_lang();
    let id = format!("field-{name}");
    let mine = move || error.get().filter(|e| e.field.as_deref() == Some(name));
    view! {
        <div class="field" class:field-invalid=move || mine().is_some()>
            <label for=id.clone()>{tr(label)}</label>
            <input id=id name=name type=kind.unwrap_or("text") value=value autocomplete="off"/>
            {hint.map(|h| view! { <small class="hint">{tr(h)}</small> })}
            <p class="field-error" role="alert">
                {move || mine().map(|e| view! { <span class="error-code">{e.code.clone()}</span> " " {e.message.in_lang(lang.get()).to_string()} })}
            </p>
        </div>
    }
}

#[component]
fn CheckField(label: Key, name: &'static str, checked: bool) -> impl IntoView {
    let id = format!("field-{name}");
    view! {
        <div class="field field-check">
            <label>
                <input id=id name=name type="checkbox" value="on" checked=checked/> " " {tr(label)}
            </label>
        </div>
    }
}

#[component]
fn NotificationsForm(settings: NotificationSettings) -> impl IntoView {
    let action = ServerAction::<SaveNotificationSettings>::new();
    let error = Signal::derive(move || action.value().get().and_then(Result::err));
    let saved = move || matches!(action.value().get(), Some(Ok(())));
    let test = ServerAction::<SendTestMail>::new();
    let s = settings;
    let form = NodeRef::<leptos::html::Form>::new();
    crate::components::resubmit_after_step_up(move || action.value().get(), form);
    view! {
        <ActionForm action=action node_ref=form attr:data-testid="notifications-form">
            <FormErrorBanner error=error/>
            <CheckField label=Key::NotifyEmailEnabled name="email_enabled" checked=s.email_enabled/>
            <NumberField label=Key::NotifyFirstDays name="first_days" value=s.first_days error=error/>
            <NumberField label=Key::NotifySecondDays name="second_days" value=s.second_days error=error/>
            <CheckField label=Key::NotifyUser name="notify_user" checked=s.notify_user/>
            <CheckField label=Key::NotifyAdmins name="notify_admins" checked=s.notify_admins/>
            <TextField label=Key::NotifyExtra name="extra_recipients" value=s.extra_recipients.clone() error=error/>
            <NumberField label=Key::NotifyHour name="daily_hour" value=u32::from(s.daily_hour) error=error/>
            <fieldset>
                <legend>{tr(Key::SmtpTitle)}</legend>
                <TextField label=Key::SmtpHost name="smtp_host" value=s.smtp_host.clone() error=error/>
                <NumberField label=Key::SmtpPort name="smtp_port" value=u32::from(s.smtp_port) error=error/>
                <div class="field">
                    <label for="field-smtp_security">{tr(Key::SmtpSecurityLabel)}</label>
                    <select id="field-smtp_security" name="smtp_security">
                        {[(SmtpSecurity::StartTls, Key::SmtpStartTls), (SmtpSecurity::Tls, Key::SmtpTls), (SmtpSecurity::None, Key::SmtpNone)]
                            .into_iter()
                            .map(|(v, label)| view! { <option value=v.as_str() selected=v == s.smtp_security>{tr(label)}</option> })
                            .collect_view()}
                    </select>
                </div>
                <TextField label=Key::SmtpUser name="smtp_username" value=s.smtp_username.clone() error=error/>
                <TextField label=Key::SmtpPassword name="smtp_password" value=String::new() kind="password" hint=Key::SmtpPasswordHint error=error/>
                <p class="hint" data-testid="smtp-secret-follows">{tr(Key::SmtpSecretFollowsDestination)}</p>
                {s.smtp_password_set.then(|| view! {
                    <p class="hint" data-testid="password-stored">{tr(Key::SmtpPasswordStored)}</p>
                    <CheckField label=Key::SmtpPasswordClear name="clear_password" checked=false/>
                })}
                <TextField label=Key::SmtpFrom name="mail_from" value=s.mail_from.clone() kind="email" error=error/>
            </fieldset>
            <button type="submit" class="primary" data-testid="notifications-save" disabled=move || action.pending().get()>{tr(Key::Save)}</button>
            <Show when=saved><span class="ok" role="status" data-testid="notifications-saved">" " {tr(Key::Saved)}</span></Show>
        </ActionForm>
        <ActionForm action=test attr:data-testid="test-mail-form" attr:class="test-mail-form">
            <p class="hint">{tr(Key::MailTestOwnOnly)} {tr(Key::MailTestHint)}</p>
            <button type="submit" data-testid="test-mail-send" disabled=move || test.pending().get()>{tr(Key::MailTestSend)}</button>
            {move || test.value().get().map(|r| match r {
                Ok(to) => view! { <p class="ok" role="status" data-testid="test-mail-sent">{tr(Key::MailTestSent)} " " {to}</p> }.into_any(),
                Err(e) => view! { <ErrorBanner error=e/> }.into_any(),
            })}
        </ActionForm>
    }
}

#[component]
fn CaBackendForm(view_: CaBackendView) -> impl IntoView {
    let lang = use_lang();
    let save = ServerAction::<SaveCaBackend>::new();
    let test = ServerAction::<TestCaConnection>::new();
    let error = Signal::derive(move || save.value().get().and_then(Result::err));
    let saved = move || matches!(save.value().get(), Some(Ok(())));
    let secret_hint = |set: bool| {
        if set {
            Key::ExtCaSecretSet
        } else {
            Key::ExtCaSecretUnset
        }
    };
    let c = view_.cfssl.clone();
    let form = NodeRef::<leptos::html::Form>::new();
    crate::components::resubmit_after_step_up(move || save.value().get(), form);
    view! {
        <ActionForm action=save node_ref=form attr:data-testid="ca-backend-form">
            <FormErrorBanner error=error/>
            <div class="field">
                <label for="field-kind">{tr(Key::ExtCaKind)}</label>
                <select id="field-kind" name="kind">
                    <option value=CaBackendKind::Embedded.as_str() selected=view_.kind == CaBackendKind::Embedded>{tr(Key::ExtCaEmbedded)}</option>
                    <option value=CaBackendKind::Cfssl.as_str() selected=view_.kind == CaBackendKind::Cfssl>{tr(Key::ExtCaCfssl)}</option>
                </select>
            </div>
            <TextField label=Key::ExtCaUrl name="url" value=c.url.clone() error=error/>
            <TextField label=Key::ExtCaProfile name="profile" value=c.profile.clone() error=error/>
            <div class="field">
                <label for="field-key_source">{tr(Key::ExtCaKeySource)}</label>
                <select id="field-key_source" name="key_source">
                    <option value=KeySource::Csr.as_str() selected=c.key_source == KeySource::Csr>{tr(Key::ExtCaKeySourceCsr)}</option>
                    <option value=KeySource::Ca.as_str() selected=c.key_source == KeySource::Ca>{tr(Key::ExtCaKeySourceCa)}</option>
                </select>
            </div>
            <TextField label=Key::ExtCaAuthKey name="auth_key" value=String::new() kind="password" hint=secret_hint(view_.auth_key_set) error=error/>
            <p class="hint" data-testid="auth-key-follows">{tr(Key::ExtCaAuthKeyFollowsUrl)}</p>
            <TextField label=Key::ExtCaConnectTimeout name="connect_timeout_s" value=c.connect_timeout_s.to_string() error=error/>
            <TextField label=Key::ExtCaTotalTimeout name="total_timeout_s" value=c.total_timeout_s.to_string() error=error/>
            <TextField label=Key::ExtCaProxyUrl name="proxy_url" value=c.proxy_url.clone() error=error/>
            <TextField label=Key::ExtCaProxyUser name="proxy_user" value=c.proxy_user.clone() error=error/>
            <TextField label=Key::ExtCaProxyPassword name="proxy_password" value=String::new() kind="password" hint=secret_hint(view_.proxy_password_set) error=error/>
            <p class="hint" data-testid="proxy-password-follows">{tr(Key::ExtCaProxyPasswordFollowsProxy)}</p>
            <div class="field">
                <label for="field-ca_bundle_pem">{tr(Key::ExtCaBundle)}</label>
                <textarea id="field-ca_bundle_pem" name="ca_bundle_pem" rows="4">{c.ca_bundle_pem.clone()}</textarea>
            </div>
            <button type="submit" class="primary" disabled=move || save.pending().get()>{tr(Key::Save)}</button>
            <Show when=saved><span class="ok" role="status" data-testid="ca-backend-saved">" " {tr(Key::Saved)}</span></Show>
        </ActionForm>
        <p class="hint">{tr(Key::ExtCaTestHint)}</p>
        <button type="button" class="secondary" data-testid="ca-test" disabled=move || test.pending().get()
            on:click=move |_| { test.dispatch(TestCaConnection {}); }>{tr(Key::ExtCaTest)}</button>
        {move || test.value().get().map(|r| match r {
            Ok(steps) => view! {
                <ol class="ca-steps" data-testid="ca-test-steps">
                    {steps.into_iter().map(|s| view! {
                        <li class:error=!s.ok data-step=s.step.clone()>
                            <strong>{match s.step.as_str() {
                                "settings" => tr(Key::ExtCaStepSettings).into_any(),
                                "info" => tr(Key::ExtCaStepInfo).into_any(),
                                "auth" => tr(Key::ExtCaStepAuth).into_any(),
                                other => other.to_string().into_any(),
                            }}</strong> " "
                            {if s.ok { tr(Key::ExtCaStepOk).into_any() } else { tr(Key::ExtCaStepFailed).into_any() }} " "
                            {s.code.clone().map(|c| view! { <span class="error-code">{c}</span> " " })}
                            {s.message.in_lang(lang.get()).to_string()}
                        </li>
                    }).collect_view()}
                </ol>
            }.into_any(),
            Err(e) => view! { <ErrorBanner error=e/> }.into_any(),
        })}
    }
}

#[component]
pub fn SettingsPage() -> impl IntoView {
    let profile = crate::codec::page_resource(|| (), |_| load_issuing_profile());
    let ca_backend = crate::codec::page_resource(|| (), |_| load_ca_backend());
    let notifications = crate::codec::page_resource(|| (), |_| load_notification_settings());
    view! {
        <h1>{tr(Key::SettingsTitle)}</h1>
        <p data-testid="otp-link"><a href="/otp" rel="external">{crate::components::bi("ワンタイムパスワード(二要素認証)の設定", "One-time password (two-factor sign-in)")}</a></p>
        <section>
            <h2>{tr(Key::ProfileTitle)}</h2>
            <Suspense fallback=move || view! { <p>{tr(Key::Loading)}</p> }>
                {move || profile.get().map(|r| match r {
                    Ok(p) => view! { <ProfileForm profile=p/> }.into_any(),
                    Err(e) => view! { <ErrorBanner error=e/> }.into_any(),
                })}
            </Suspense>
        </section>
        <section>
            <h2>{tr(Key::NotifyTitle)}</h2>
            <p class="hint">{tr(Key::NotifyIntro)}</p>
            <Suspense fallback=move || view! { <p>{tr(Key::Loading)}</p> }>
                {move || notifications.get().map(|r| match r {
                    Ok(s) => view! { <NotificationsForm settings=s/> }.into_any(),
                    Err(e) => view! { <ErrorBanner error=e/> }.into_any(),
                })}
            </Suspense>
        </section>
        <super::backup_settings::BackupScheduleSection/>
        <enrolment::EnrolmentSettingsSection/>
        <section>
            <h2>{tr(Key::ExtCaTitle)}</h2>
            <p class="hint">{tr(Key::ExtCaIntro)}</p>
            <Suspense fallback=move || view! { <p>{tr(Key::Loading)}</p> }>
                {move || ca_backend.get().map(|r| match r {
                    Ok(v) => view! { <CaBackendForm view_=v/> }.into_any(),
                    Err(e) => view! { <ErrorBanner error=e/> }.into_any(),
                })}
            </Suspense>
        </section>
        <section>
            <h2>{tr(Key::CaTitle)}</h2>
            <p class="hint">{tr(Key::CaIntro)}</p>
            <ul>
                <li><a href="/ca/ca.pem" rel="external" download>{tr(Key::CaPem)}</a></li>
                <li><a href="/ca/ca.der" rel="external" download>{tr(Key::CaDer)}</a></li>
                <li><a href="/ca/crl.pem" rel="external" download>{tr(Key::CrlPem)}</a></li>
            </ul>
            <Suspense fallback=|| ()>
                {move || ca_backend.get().and_then(|r| r.ok()).filter(|v| v.kind == CaBackendKind::Cfssl).map(|_| view! {
                    <p class="hint">{tr(Key::ExtCaFiles)}</p>
                    <ul data-testid="cfssl-files">
                        <li><a href="/ca/cfssl/ca.pem" rel="external" download>{tr(Key::CaPem)}</a></li>
                        <li><a href="/ca/cfssl/crl.pem" rel="external" download>{tr(Key::CrlPem)}</a></li>
                    </ul>
                })}
            </Suspense>
        </section>
    }
}
