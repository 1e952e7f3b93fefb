use crate::components::{navigate_hard, FormErrorBanner, StandaloneHeader, TextField};
use crate::i18n::{tr, Key};
use crate::server_fns::SignIn;
use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

/// Sign-in for masters and admins.
#[component]
pub fn LoginPage() -> impl IntoView {
    let action = ServerAction::<SignIn>::new();
    let error = Signal::derive(move || action.value().get().and_then(Result::err));
    let query = use_query_map();
    let expired = move || query.read().get("expired").is_some() && action.value().get().is_none();
    Effect::new(move |_| {
        if let Some(Ok(())) = action.value().get() {
            navigate_hard("/");
        }
    });
    view! {
        <div class="standalone">
            <StandaloneHeader/>
            <main class="card narrow">
                <h1>{tr(Key::LoginTitle)}</h1>
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
            </main>
        </div>
    }
}
