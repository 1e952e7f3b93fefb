//! The installation check page's link, shown on the pickup page when `serve` runs one.

use crate::i18n::tr_message;
use crate::server_fns::check::check_page_url;
use certdesk_domain::Message;
use leptos::prelude::*;

#[component]
pub fn CheckPageLink() -> impl IntoView {
    let url = crate::codec::page_resource(|| (), |_| check_page_url());
    view! {
        <Suspense fallback=|| ()>
            {move || url.get().and_then(Result::ok).flatten().map(|u| view! {
                <section class="hint" data-testid="check-page">
                    <h2>{tr_message(Message::new("インストールの確認", "Check the installation"))}</h2>
                    <p>{tr_message(Message::new(
                        "証明書を取り込んでブラウザを再起動したら、次のページを開くと正しくインストールされたかを確認できます。",
                        "After importing the certificate and restarting the browser, open this page to check that it is installed correctly.",
                    ))}</p>
                    <p><a href=u.clone() data-testid="check-page-url">{u.clone()}</a></p>
                </section>
            })}
        </Suspense>
    }
}
