//! Pages whose content comes with later issues (distribution).
//! They exist now so that the navigation is complete and every route is signed-in only.

use crate::i18n::{tr, Key};
use leptos::prelude::*;

#[component]
fn Placeholder(title: Key) -> impl IntoView {
    view! {
        <h1>{tr(title)}</h1>
        <p class="notice">{tr(Key::NotYetAvailable)}</p>
    }
}

#[component]
pub fn DistributionPage() -> impl IntoView {
    view! { <Placeholder title=Key::DistributionTitle/> }
}
