//! One certificate: subject, serial, validity, fingerprint, and its user's history.

use super::certificates::state_key;
use crate::components::ErrorBanner;
use crate::i18n::{identifier_label, tr, use_lang, Key};
use crate::server_fns::certificates::load_certificate_detail;
use certdesk_domain::views::{date_part, CertificateView};
use leptos::prelude::*;
use leptos_router::hooks::use_params_map;

#[component]
pub fn CertificateDetailPage() -> impl IntoView {
    let lang = use_lang();
    let params = use_params_map();
    let serial = move || params.read().get("serial").unwrap_or_default();
    let detail = crate::codec::page_resource(serial, load_certificate_detail);
    let label = move |id: Option<String>| {
        move || {
            id.as_deref()
                .map(|i| identifier_label(lang.get(), i))
                .unwrap_or_default()
        }
    };
    let row = move |c: CertificateView| {
        let href = format!("/certificates/{}", c.serial);
        view! {
            <tr>
                <td><a href=href><code>{c.serial.clone()}</code></a></td>
                <td>{tr(state_key(Some(c.state)))}</td>
                <td>{label(Some(c.via.as_str().to_string()))}</td>
                <td>{date_part(&c.not_before).to_string()}</td>
                <td>{date_part(&c.not_after).to_string()}</td>
                <td>{label(c.revocation_reason.clone())}</td>
            </tr>
        }
    };
    view! {
        <p><a href="/certificates">{tr(Key::CertBackToList)}</a></p>
        <Suspense fallback=move || view! { <p>{tr(Key::Loading)}</p> }>
            {move || detail.get().map(|r| match r {
                Ok(d) => {
                    let c = d.certificate.clone();
                    let pem = format!("/certificates/{}/cert.pem", c.serial);
                    view! {
                        <h1>{tr(Key::CertDetailTitle)} ": " {c.login_id.clone()}</h1>
                        <dl class="details" data-testid="certificate-detail">
                            <dt>{tr(Key::CertSubject)}</dt><dd data-testid="subject">{c.subject.clone()}</dd>
                            <dt>{tr(Key::CertSerial)}</dt><dd><code data-testid="serial">{c.serial.clone()}</code></dd>
                            <dt>{tr(Key::CertState)}</dt><dd data-testid="detail-state">{tr(state_key(Some(c.state)))}</dd>
                            <dt>{tr(Key::CertNotBefore)}</dt><dd>{c.not_before.clone()}</dd>
                            <dt>{tr(Key::CertNotAfter)}</dt><dd>{c.not_after.clone()}</dd>
                            <dt>{tr(Key::CertRenewalOpens)}</dt><dd>{c.renewal_opens.clone()}</dd>
                            <dt>{tr(Key::CertFingerprint)}</dt><dd><code data-testid="fingerprint">{c.fingerprint()}</code></dd>
                            <dt>{tr(Key::CertKeyType)}</dt><dd>{c.key_type.clone()}</dd>
                            <dt>{tr(Key::CertFriendlyName)}</dt><dd>{c.friendly_name.clone()}</dd>
                            <dt>{tr(Key::CertIssuedBy)}</dt><dd>{c.issued_by.clone()} " (" {c.issued_at.clone()} ")"</dd>
                            {c.revoked_at.clone().map(|at| view! {
                                <dt>{tr(Key::CertRevokedAt)}</dt><dd>{at} " (" {label(c.revocation_reason.clone())} ")"</dd>
                            })}
                        </dl>
                        <p><a href=pem rel="external" download>{tr(Key::CertDownloadPem)}</a></p>
                        <h2>{tr(Key::CertHistory)}</h2>
                        <table class="table" data-testid="history">
                            <thead><tr>
                                <th scope="col">{tr(Key::CertSerial)}</th>
                                <th scope="col">{tr(Key::CertState)}</th>
                                <th scope="col">{tr(Key::CertVia)}</th>
                                <th scope="col">{tr(Key::CertNotBefore)}</th>
                                <th scope="col">{tr(Key::CertNotAfter)}</th>
                                <th scope="col">{tr(Key::CertReason)}</th>
                            </tr></thead>
                            <tbody>{d.history.into_iter().map(row).collect_view()}</tbody>
                        </table>
                    }
                    .into_any()
                }
                Err(e) => view! { <ErrorBanner error=e/> }.into_any(),
            })}
        </Suspense>
    }
}
