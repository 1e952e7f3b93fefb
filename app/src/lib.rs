//! certdesk's Leptos UI: the HTML shell, the routes, pages, components, thin server
//! functions and the translations. Compiled twice: with `ssr` into the server, with
//! `hydrate` into the wasm bundle the browser runs.

#![recursion_limit = "256"]

pub mod codec;
pub mod components;
pub mod csp;
pub mod error;
pub mod i18n;
pub mod pages;
pub mod server_fns;

use components::ConsoleLayout;
use leptos::prelude::*;
use leptos_meta::{provide_meta_context, MetaTags, Title};
use leptos_router::components::{ParentRoute, Route, Router, Routes};
use leptos_router::path;
use pages::*;

/// The HTML document around the app, rendered on the server.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    #[cfg(feature = "ssr")]
    csp::set_page_policy();
    let lang = i18n::initial_lang();
    view! {
        <!DOCTYPE html>
        <html lang=lang.tag()>
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <link rel="stylesheet" href="/style/main.css"/>
                <link rel="icon" href="/favicon.svg" type="image/svg+xml"/>
                <HydrationScripts options/>
                <MetaTags/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    let lang = RwSignal::new(i18n::initial_lang());
    provide_context(i18n::LangSignal(lang));
    view! {
        <Title text=i18n::tr(i18n::Key::AppName)/>
        <Router>
            <Routes fallback=NotFoundPage>
                <Route path=path!("/setup") view=SetupPage/>
                <Route path=path!("/login") view=LoginPage/>
                <Route path=path!("/pickup") view=PickupPage/>
                <Route path=path!("/otp") view=OtpPage/>
                <ParentRoute path=path!("") view=ConsoleLayout>
                    // Async: the first HTML holds every count and the chart (no JavaScript needed).
                    <Route path=path!("") view=DashboardPage ssr=leptos_router::SsrMode::Async/>
                    <Route path=path!("users") view=UsersPage/>
                    <Route path=path!("certificates") view=CertificatesPage/>
                    <Route path=path!("certificates/:serial") view=CertificateDetailPage/>
                    <Route path=path!("distribution") view=DistributionPage/>
                    <Route path=path!("audit") view=AuditPage/>
                    <Route path=path!("settings") view=SettingsPage/>
                </ParentRoute>
            </Routes>
        </Router>
    }
}

/// The wasm entry point: hydrates the server-rendered page, then marks `<body>` with
/// `data-hydrated` (end-to-end tests wait for it before clicking).
#[cfg(feature = "hydrate")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_body(App);
    if let Some(body) = leptos::prelude::document().body() {
        let _ = body.set_attribute("data-hydrated", "true");
    }
}
