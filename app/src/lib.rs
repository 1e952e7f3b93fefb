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
mod routes;
pub mod server_fns;

use components::ConsoleLayout;
use leptos::prelude::*;
use leptos_meta::{provide_meta_context, MetaTags, Title};
use leptos_router::components::{ParentRoute, Route, Router, Routes};
use leptos_router::path;
use leptos_router::Lazy;
use pages::{NotFoundPage, PickupPage};
use routes::*;

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
                <Route path=path!("/setup") view={Lazy::<SetupRoute>::new()}/>
                <Route path=path!("/login") view={Lazy::<LoginRoute>::new()}/>
                <Route path=path!("/pickup") view=PickupPage/>
                <Route path=path!("/otp") view={Lazy::<OtpRoute>::new()}/>
                <ParentRoute path=path!("") view=ConsoleLayout>
                    // Async: the first HTML holds every count and the chart (no JavaScript needed).
                    <Route path=path!("") view={Lazy::<DashboardRoute>::new()} ssr=leptos_router::SsrMode::Async/>
                    <Route path=path!("users") view={Lazy::<UsersRoute>::new()}/>
                    <Route path=path!("certificates") view={Lazy::<CertificatesRoute>::new()}/>
                    <Route path=path!("certificates/:serial") view={Lazy::<CertificateDetailRoute>::new()}/>
                    <Route path=path!("distribution") view={Lazy::<DistributionRoute>::new()}/>
                    <Route path=path!("audit") view={Lazy::<AuditRoute>::new()}/>
                    <Route path=path!("settings") view={Lazy::<SettingsRoute>::new()}/>
                </ParentRoute>
            </Routes>
        </Router>
    }
}

/// The wasm entry point: hydrates the server-rendered page, then marks `<body>` with
/// `data-hydrated` (end-to-end tests wait for it before clicking). Asynchronously, since a lazy
/// route's part of the bundle must be fetched before its page can be hydrated; the mark comes
/// after that.
#[cfg(feature = "hydrate")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    let Some(body) = leptos::prelude::document().body() else {
        return;
    };
    wasm_bindgen_futures::spawn_local(async move {
        leptos::mount::hydrate_from_async(body.clone(), App)
            .await
            .forget();
        let _ = body.set_attribute("data-hydrated", "true");
    });
}
