//! The self-service pickup page (MaiNet style) for general users: no console sign-in. The
//! user types the group ID, the certificate number and the one-time pickup password; the form
//! posts to `/pickup/download`, which answers with the `.p12` (protected by the pickup
//! password) or comes back here with `?error=E-PICKUP-001`, the one answer for every refusal.
//! A plain form, so it works without JavaScript too. After a refusal the page comes back with
//! the group ID and the number it was sent (`&group_id=…&number=…`), never the password.

use crate::components::StandaloneHeader;
use crate::i18n::{tr, Key};
use certdesk_domain::distribution::PickupRefusal;
use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

#[component]
pub fn PickupPage() -> impl IntoView {
    let query = use_query_map();
    let refusal = move || {
        let q = query.read();
        q.get("error")
            .and_then(|code| PickupRefusal::from_code(&code, None))
    };
    let kept = |field: &str| query.read_untracked().get(field).unwrap_or_default();
    view! {
        <div class="standalone">
            <StandaloneHeader/>
            <main class="card narrow">
                <h1>{tr(Key::PickupTitle)}</h1>
                <p>{tr(Key::PickupIntro)}</p>
                // One answer for every refusal (wrong number, wrong password, locked, expired,
                // retrieved), so that numbers and passwords cannot be probed.
                {move || refusal().map(|r| view! {
                    <div class="error-banner" role="alert" data-code=r.code()>
                        <span class="error-code">{r.code()}</span> " "
                        <span class="error-message">{tr(Key::PickupRefused)}</span>
                    </div>
                })}
                <form method="post" action="/pickup/download" data-testid="pickup-form">
                    <div class="field">
                        <label for="field-group_id">{tr(Key::FieldGroupId)}</label>
                        <input id="field-group_id" name="group_id" autocomplete="organization" required value=kept("group_id")/>
                    </div>
                    <div class="field">
                        <label for="field-number">{tr(Key::DistPickupNumber)}</label>
                        <input id="field-number" name="number" inputmode="numeric" autocomplete="off" placeholder="0000-0000-0000" required value=kept("number")/>
                    </div>
                    <div class="field">
                        <label for="field-password">{tr(Key::PickupPassword)}</label>
                        <input id="field-password" name="password" type="password" autocomplete="off" required/>
                    </div>
                    <button type="submit" class="primary" data-testid="pickup-submit">{tr(Key::PickupSubmit)}</button>
                </form>
                <section class="hint">
                    <h2>{tr(Key::PickupHowTitle)}</h2>
                    <ol>
                        <li>{tr(Key::PickupStep1)}</li>
                        <li>{tr(Key::PickupStep2)}</li>
                        <li>{tr(Key::PickupStep3)}</li>
                        <li>{tr(Key::PickupStep4)}</li>
                    </ol>
                </section>
                <super::check_link::CheckPageLink/>
            </main>
        </div>
    }
}
