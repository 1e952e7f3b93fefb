use super::ActionForm;
use super::{navigate_hard, ErrorBanner};
use crate::i18n::{switch_lang, tr, use_lang, Key};
use crate::server_fns::{shell_info, SignOut};
use certdesk_domain::{Lang, Role};
use leptos::prelude::*;
use leptos_router::components::{Outlet, A};

/// The button that switches between Japanese and English in place (handled in the browser).
#[component]
pub fn LangSwitch() -> impl IntoView {
    let lang = use_lang();
    view! {
        <button
            type="button"
            class="lang-switch"
            data-testid="lang-switch"
            aria-label=tr(Key::SwitchToOtherLabel)
            on:click=move |_| {
                let to = if lang.get_untracked() == Lang::Ja { Lang::En } else { Lang::Ja };
                switch_lang(lang, to);
            }
        >
            {tr(Key::SwitchToOther)}
        </button>
    }
}

/// The header of the pages shown before sign-in (setup, sign-in).
#[component]
pub fn StandaloneHeader() -> impl IntoView {
    view! {
        <header class="standalone-header">
            <span class="brand">{tr(Key::AppName)}</span>
            <LangSwitch/>
        </header>
    }
}

fn role_label(lang: Lang, role: Role) -> &'static str {
    match lang {
        Lang::Ja => role.label_ja(),
        Lang::En => role.label_en(),
    }
}

/// Header, navigation and the page: the frame of every signed-in page.
#[component]
pub fn ConsoleLayout() -> impl IntoView {
    let lang = use_lang();
    let info = crate::codec::page_resource(|| (), |_| shell_info());
    let sign_out = ServerAction::<SignOut>::new();
    super::StepUp::provide();
    Effect::new(move |_| {
        if let Some(Ok(())) = sign_out.value().get() {
            navigate_hard("/login");
        }
    });
    let nav = [
        ("/", Key::NavDashboard),
        ("/users", Key::NavUsers),
        ("/certificates", Key::NavCertificates),
        ("/distribution", Key::NavDistribution),
        ("/audit", Key::NavAudit),
        ("/settings", Key::NavSettings),
    ];
    view! {
        <header class="topbar">
            <span class="brand">{tr(Key::AppName)}</span>
            <Suspense fallback=move || view! { <span class="org">{tr(Key::Loading)}</span> }>
                {move || {
                    info.get()
                        .map(|result| match result {
                            Ok(i) => {
                                let role = i.role;
                                view! {
                                    <span class="org" data-testid="org-name">{i.org_name}</span>
                                    <span class="user" data-testid="current-user">
                                        <span class="visually-hidden">{tr(Key::SignedInAs)} " "</span>
                                        {i.user_name} " (" {i.login_id} ", "
                                        {move || role_label(lang.get(), role)} ")"
                                    </span>
                                }
                                    .into_any()
                            }
                            Err(e) => view! { <ErrorBanner error=e/> }.into_any(),
                        })
                }}
            </Suspense>
            <span class="spacer"></span>
            <LangSwitch/>
            <ActionForm action=sign_out attr:class="inline-form">
                <button type="submit" data-testid="sign-out">{tr(Key::SignOut)}</button>
            </ActionForm>
        </header>
        <nav class="mainnav" aria-label=tr(Key::MainNavigation)>
            <ul>
                {nav
                    .into_iter()
                    .map(|(href, key)| view! { <li><A href=href exact=true>{tr(key)}</A></li> })
                    .collect_view()}
            </ul>
        </nav>
        <main class="content">
            <Outlet/>
        </main>
        <super::StepUpDialog/>
    }
}
