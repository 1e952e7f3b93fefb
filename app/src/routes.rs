//! The pages that load their own part of the wasm bundle the first time they are shown
//! (Leptos' lazy routes; `scripts/bindgen --split` cuts the bundle at them). Every page but the
//! pickup page, which staff open from their own PCs: what every page loads is then the router,
//! the layout, the pickup page and what the pages share, within issue 16's 400 KB gzip, and no
//! page's first visit, with its parts, is over it either (`check_bundle_size`).
//!
//! On the server a lazy route renders as any other, and the page it renders names its parts
//! as preloads, so a direct load fetches them alongside the main module.

use crate::pages::*;
use leptos::prelude::*;
use leptos_router::{lazy_route, LazyRoute};

/// `Route => Page`: a route type whose view is the page, loaded on first use.
macro_rules! lazy_pages {
    ($($route:ident => $page:ident),* $(,)?) => {$(
        #[doc = concat!("`", stringify!($page), "`, loaded on first use.")]
        #[derive(Debug)]
        pub(crate) struct $route;

        #[lazy_route]
        impl LazyRoute for $route {
            fn data() -> Self {
                Self
            }

            fn view(_this: Self) -> AnyView {
                view! { <$page/> }.into_any()
            }
        }
    )*};
}

lazy_pages! {
    SetupRoute => SetupPage,
    LoginRoute => LoginPage,
    OtpRoute => OtpPage,
    DashboardRoute => DashboardPage,
    UsersRoute => UsersPage,
    CertificatesRoute => CertificatesPage,
    CertificateDetailRoute => CertificateDetailPage,
    DistributionRoute => DistributionPage,
    AuditRoute => AuditPage,
    SettingsRoute => SettingsPage,
}
