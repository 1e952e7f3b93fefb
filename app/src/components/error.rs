use crate::error::UiError;
use crate::i18n::{tr, use_lang, Key};
use leptos::prelude::*;

/// An error with its code and message, in the current language.
#[component]
pub fn ErrorBanner(error: UiError) -> impl IntoView {
    let lang = use_lang();
    let needs_sign_in = error.code == "E-AUTH-003";
    let code = error.code.clone();
    let data_code = error.code.clone();
    let message = error.message.clone();
    view! {
        <div class="error-banner" role="alert" data-code=data_code>
            <span class="error-code" title=tr(Key::ErrorCode)>{code}</span>
            " "
            <span class="error-message">{move || message.in_lang(lang.get()).to_string()}</span>
            {needs_sign_in.then(|| view! { " " <a href="/login">{tr(Key::SignInAgain)}</a> })}
        </div>
    }
}

/// The banner at the top of a form: errors that are not about one field.
#[component]
pub fn FormErrorBanner(error: Signal<Option<UiError>>) -> impl IntoView {
    move || {
        error
            .get()
            .filter(|e| e.field.is_none())
            .map(|e| view! { <ErrorBanner error=e/> })
    }
}
