use crate::i18n::{tr, Key};
use leptos::prelude::*;

#[component]
pub fn NotFoundPage() -> impl IntoView {
    #[cfg(feature = "ssr")]
    if let Some(resp) = use_context::<leptos_axum::ResponseOptions>() {
        resp.set_status(axum::http::StatusCode::NOT_FOUND);
    }
    view! {
        <main class="card narrow">
            <h1>{tr(Key::NotFoundTitle)}</h1>
            <p><a href="/">{tr(Key::NotFoundBack)}</a></p>
        </main>
    }
}
