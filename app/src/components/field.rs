use crate::error::UiError;
use crate::i18n::{tr, use_lang, Key};
use leptos::prelude::*;

/// A labelled input whose error (if the server named this field) is shown right below it.
#[component]
pub fn TextField(
    label: Key,
    /// The form field's name, which is also the server function's argument.
    name: &'static str,
    error: Signal<Option<UiError>>,
    #[prop(default = "text")] kind: &'static str,
    #[prop(optional)] hint: Option<Key>,
    #[prop(default = "off")] autocomplete: &'static str,
    #[prop(optional)] required: bool,
) -> impl IntoView {
    let lang = use_lang();
    let id = format!("field-{name}");
    let error_id = format!("{id}-error");
    let mine = move || error.get().filter(|e| e.field.as_deref() == Some(name));
    view! {
        <div class="field" class:field-invalid=move || mine().is_some()>
            <label for=id.clone()>{tr(label)}</label>
            <input
                id=id
                name=name
                type=kind
                autocomplete=autocomplete
                required=required
                aria-invalid=move || if mine().is_some() { "true" } else { "false" }
                aria-describedby=error_id.clone()
            />
            {hint.map(|h| view! { <small class="hint">{tr(h)}</small> })}
            <p class="field-error" id=error_id role="alert">
                {move || {
                    mine()
                        .map(|e| {
                            view! {
                                <span class="error-code">{e.code.clone()}</span>
                                " "
                                {e.message.in_lang(lang.get()).to_string()}
                            }
                        })
                }}
            </p>
        </div>
    }
}
