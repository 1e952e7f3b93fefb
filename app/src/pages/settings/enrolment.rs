//! Settings → self-service enrolment (issue 17, masters only): how long an enrolment code
//! stays valid (1–90 days) and whether holders may renew on the check page. A refusal
//! (`E-ENROLL-012` out of range, `E-AUTH-004` not a master) is shown at its field or on top
//! of the form.

use crate::components::ActionForm;
use crate::components::{ErrorBanner, FormErrorBanner};
use crate::i18n::{tr, use_lang, Key};
use crate::server_fns::enrolment::{load_enrolment_settings, SaveEnrolmentSettings};
use certdesk_domain::enrolment::EnrolmentSettings;
use leptos::prelude::*;

#[component]
fn EnrolmentForm(settings: EnrolmentSettings) -> impl IntoView {
    let lang = use_lang();
    let action = ServerAction::<SaveEnrolmentSettings>::new();
    let error = Signal::derive(move || action.value().get().and_then(Result::err));
    let at_field = move || {
        error
            .get()
            .filter(|e| e.field.as_deref() == Some("validity_days"))
    };
    let elsewhere = Signal::derive(move || {
        error
            .get()
            .filter(|e| e.field.as_deref() != Some("validity_days"))
    });
    let saved = move || matches!(action.value().get(), Some(Ok(())));
    view! {
        <ActionForm action=action attr:data-testid="enrolment-settings-form">
            <FormErrorBanner error=elsewhere/>
            <div class="field" class:field-invalid=move || at_field().is_some()>
                <label for="field-enrolment_validity_days">{tr(Key::EnrolValidityDays)}</label>
                <input id="field-enrolment_validity_days" name="validity_days" type="text" inputmode="numeric"
                    value=settings.validity_days.to_string()/>
                <p class="field-error" role="alert" data-testid="enrolment-validity-error">
                    {move || at_field().map(|e| view! { <span class="error-code">{e.code.clone()}</span> " " {e.message.in_lang(lang.get()).to_string()} })}
                </p>
            </div>
            <div class="field field-check">
                <label>
                    <input id="field-self_renewal" name="self_renewal" type="checkbox" value="on" checked=settings.self_renewal/>
                    " " {tr(Key::EnrolSelfRenewal)}
                </label>
            </div>
            <button type="submit" class="primary" data-testid="enrolment-settings-save" disabled=move || action.pending().get()>{tr(Key::Save)}</button>
            <Show when=saved><span class="ok" role="status" data-testid="enrolment-settings-saved">" " {tr(Key::Saved)}</span></Show>
        </ActionForm>
    }
}

/// The section of the Settings page.
#[component]
pub fn EnrolmentSettingsSection() -> impl IntoView {
    let settings = crate::codec::page_resource(|| (), |_| load_enrolment_settings());
    view! {
        <section data-testid="enrolment-settings">
            <h2>{tr(Key::EnrolSettingsTitle)}</h2>
            <p class="hint">{tr(Key::EnrolSettingsIntro)}</p>
            <Suspense fallback=move || view! { <p>{tr(Key::Loading)}</p> }>
                {move || settings.get().map(|r| match r {
                    Ok(s) => view! { <EnrolmentForm settings=s/> }.into_any(),
                    Err(e) => view! { <ErrorBanner error=e/> }.into_any(),
                })}
            </Suspense>
        </section>
    }
}
