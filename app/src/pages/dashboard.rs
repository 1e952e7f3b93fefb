use crate::components::ErrorBanner;
use crate::i18n::{tr, Key};
use crate::server_fns::user_counts;
use leptos::prelude::*;

/// For now: how many users the organisation has, by role.
#[component]
pub fn DashboardPage() -> impl IntoView {
    let counts = Resource::new(|| (), |_| user_counts());
    view! {
        <h1>{tr(Key::DashboardTitle)}</h1>
        <Suspense fallback=move || view! { <p>{tr(Key::Loading)}</p> }>
            {move || {
                counts.get().map(|r| match r {
                    Ok(c) => {
                        let cards = [
                            (Key::UsersTotal, c.total, "users-total"),
                            (Key::UsersMasters, c.masters, "users-masters"),
                            (Key::UsersAdmins, c.admins, "users-admins"),
                            (Key::UsersGenerals, c.generals, "users-generals"),
                            (Key::UsersLocked, c.locked, "users-locked"),
                        ];
                        view! {
                            <ul class="cards">
                                {cards
                                    .into_iter()
                                    .map(|(label, n, id)| view! {
                                        <li class="count-card">
                                            <span class="count" data-testid=id>{n}</span>
                                            <span class="label">{tr(label)}</span>
                                        </li>
                                    })
                                    .collect_view()}
                            </ul>
                            <p class="hint">{tr(Key::UsersLimit)}</p>
                        }
                            .into_any()
                    }
                    Err(e) => view! { <ErrorBanner error=e/> }.into_any(),
                })
            }}
        </Suspense>
    }
}
