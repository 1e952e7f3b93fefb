use crate::components::ActionForm;
use crate::components::{navigate_hard, FormErrorBanner, StandaloneHeader, TextField};
use crate::i18n::{tr, Key};
use crate::server_fns::{setup_token_required, Setup};
use leptos::prelude::*;

/// First run: the organisation and its master user. The server sends everyone here until
/// setup is done, and never again afterwards.
#[component]
pub fn SetupPage() -> impl IntoView {
    let action = ServerAction::<Setup>::new();
    let error = Signal::derive(move || action.value().get().and_then(Result::err));
    // Rendered on the server, so the first HTML already has the field when it is needed.
    let token_required = crate::codec::page_resource(|| (), |_| setup_token_required());
    Effect::new(move |_| {
        if let Some(Ok(())) = action.value().get() {
            navigate_hard("/");
        }
    });
    view! {
        <div class="standalone">
            <StandaloneHeader/>
            <main class="card">
                <h1>{tr(Key::SetupTitle)}</h1>
                <p>{tr(Key::SetupIntro)}</p>
                <ActionForm action=action attr:novalidate=true attr:data-testid="setup-form">
                    <FormErrorBanner error=error/>
                    <Suspense fallback=|| ()>
                        <Show when=move || matches!(token_required.get(), Some(Ok(true)))>
                            <fieldset data-testid="setup-token">
                                <legend>{tr(Key::SetupTokenLegend)}</legend>
                                <p>{tr(Key::SetupTokenIntro)}</p>
                                <TextField label=Key::FieldSetupToken name="setup_token" error=error hint=Key::FieldSetupTokenHint required=true/>
                            </fieldset>
                        </Show>
                    </Suspense>
                    <fieldset>
                        <legend>{tr(Key::SetupOrganisation)}</legend>
                        <TextField label=Key::FieldOrgName name="org_name" error=error required=true/>
                        <TextField label=Key::FieldGroupId name="group_id" error=error hint=Key::FieldGroupIdHint required=true/>
                        <TextField label=Key::FieldBankCode name="bank_code" error=error hint=Key::FieldBankCodeHint required=true/>
                    </fieldset>
                    <fieldset>
                        <legend>{tr(Key::SetupMaster)}</legend>
                        <TextField label=Key::FieldLoginId name="login_id" error=error hint=Key::FieldLoginIdHint autocomplete="username" required=true/>
                        <TextField label=Key::FieldName name="name" error=error autocomplete="name" required=true/>
                        <TextField label=Key::FieldEmail name="email" kind="email" error=error autocomplete="email" required=true/>
                        <TextField label=Key::FieldPassword name="password" kind="password" error=error hint=Key::FieldPasswordHint autocomplete="new-password" required=true/>
                        <TextField label=Key::FieldPasswordConfirm name="password_confirm" kind="password" error=error autocomplete="new-password" required=true/>
                    </fieldset>
                    <button type="submit" class="primary" disabled=move || action.pending().get()>
                        {move || if action.pending().get() { tr(Key::Working)() } else { tr(Key::SetupSubmit)() }}
                    </button>
                </ActionForm>
            </main>
        </div>
    }
}
