//! The Distribution page's fourth channel (issue 17): enrolment codes. The selected users get
//! an enrolment number and a one-time code each (shown here once, and printable as slips from
//! a page the server renders from what this page posts); the list below the table shows each
//! enrolment's state, and a locked or expired one is reset with a new code.

use crate::components::ErrorBanner;
use crate::error::UiError;
use crate::i18n::{tr, use_lang, Key};
use crate::server_fns::enrolment::{mail_enrolments, reset_enrolment, EnrolmentListing};
use certdesk_domain::enrolment::{EnrolmentOperation, EnrolmentSlip, EnrolmentState};
use certdesk_domain::views::date_part;
use leptos::prelude::*;

fn minute(ts: &str) -> String {
    ts.get(..16).unwrap_or(ts).replace('T', " ")
}

/// The slips just opened (or reset): shown once, with the print and mail buttons.
#[component]
pub fn EnrolSlips(slips: Vec<EnrolmentSlip>) -> impl IntoView {
    // Each slip as its fields in the order the sheet reads them (`POST /enrolment/sheet`).
    let posted: Vec<(&'static str, String)> = slips
        .iter()
        .flat_map(|s| {
            [
                ("login_id", s.login_id.clone()),
                ("name", s.name.clone()),
                ("group_id", s.group_id.clone()),
                ("number", s.number.clone()),
                ("code", s.code.clone()),
                ("expires_at", s.expires_at.clone()),
                ("operation", s.operation.as_str().to_string()),
            ]
        })
        .collect();
    let user_ids: Vec<i64> = slips.iter().map(|s| s.user_id).collect();
    let mailed = RwSignal::new(None::<Result<u32, UiError>>);
    view! {
        <div class="delivery-result" data-testid="enrol-result">
            <p class="notice">{tr(Key::EnrolShownOnce)}</p>
            <table class="table" data-testid="enrol-slips">
                <thead><tr>
                    <th scope="col">{tr(Key::FieldLoginId)}</th>
                    <th scope="col">{tr(Key::FieldName)}</th>
                    <th scope="col">{tr(Key::EnrolNumber)}</th>
                    <th scope="col">{tr(Key::EnrolCode)}</th>
                    <th scope="col">{tr(Key::EnrolValidUntil)}</th>
                </tr></thead>
                <tbody>
                    {slips.into_iter().map(|s| view! {
                        <tr data-login=s.login_id.clone() data-operation=s.operation.as_str()>
                            <td>{s.login_id.clone()}</td>
                            <td>{s.name.clone()}</td>
                            <td><code data-testid="enrol-number">{s.number.clone()}</code></td>
                            <td><code class="password" data-testid="enrol-code">{s.code.clone()}</code></td>
                            <td>{minute(&s.expires_at)}</td>
                        </tr>
                    }).collect_view()}
                </tbody>
            </table>
            // A plain form: the server renders the slips it is given (the codes are kept
            // nowhere else) in a new tab with its print button.
            <form method="post" action="/enrolment/sheet" target="_blank" data-testid="enrol-print-form">
                {posted.into_iter().map(|(name, value)| view! { <input type="hidden" name=name value=value/> }).collect_view()}
                <button type="submit" class="primary" data-testid="enrol-print">{tr(Key::EnrolPrintSlips)}</button>
            </form>
            <p>
                <button type="button" class="small" data-testid="enrol-mail"
                    disabled=move || matches!(mailed.get(), Some(Ok(_)))
                    on:click=move |_| {
                        let ids = user_ids.clone();
                        leptos::task::spawn_local(async move { mailed.set(Some(mail_enrolments(ids).await)); });
                    }>{tr(Key::EnrolMail)}</button>
                " " <small class="hint">{tr(Key::EnrolMailHint)}</small>
            </p>
            {move || match mailed.get() {
                Some(Ok(n)) => Some(view! { <p class="ok" role="status" data-testid="enrol-mailed">{tr(Key::DistMailed)} ": " {n}</p> }.into_any()),
                Some(Err(e)) => Some(view! { <ErrorBanner error=e/> }.into_any()),
                None => None,
            }}
        </div>
    }
}

fn state_class(state: EnrolmentState) -> &'static str {
    match state {
        EnrolmentState::Open => "badge badge-info",
        EnrolmentState::Locked => "badge state-revoked",
        EnrolmentState::Used => "badge state-valid",
        EnrolmentState::Expired => "badge state-none",
    }
}

/// The open enrolments with their state; locked and expired ones can be reset. `shown`
/// receives the new slip of a reset (or its refusal).
#[component]
pub fn EnrolmentList(
    overview: EnrolmentListing,
    shown: Callback<Result<EnrolmentSlip, UiError>>,
) -> impl IntoView {
    let lang = use_lang();
    if overview.rows.is_empty() {
        return view! { <p class="hint" data-testid="enrol-none">{tr(Key::EnrolNone)}</p> }
            .into_any();
    }
    view! {
        <table class="table" data-testid="enrol-table">
            <thead><tr>
                <th scope="col">{tr(Key::FieldLoginId)}</th>
                <th scope="col">{tr(Key::FieldName)}</th>
                <th scope="col">{tr(Key::EnrolNumber)}</th>
                <th scope="col">{tr(Key::EnrolKind)}</th>
                <th scope="col">{tr(Key::EnrolState)}</th>
                <th scope="col">{tr(Key::EnrolFailures)}</th>
                <th scope="col">{tr(Key::EnrolValidUntil)}</th>
                <th scope="col">{tr(Key::CertActions)}</th>
            </tr></thead>
            <tbody>
                {overview.rows.into_iter().map(|r| {
                    let user_id = r.user_id;
                    let label = r.state.label();
                    let kind = match r.operation {
                        EnrolmentOperation::Issue => Key::EnrolKindIssue,
                        EnrolmentOperation::Reissue => Key::EnrolKindReissue,
                    };
                    let resettable = matches!(r.state, EnrolmentState::Locked | EnrolmentState::Expired);
                    view! {
                        <tr data-login=r.login_id.clone() data-state=r.state.as_str()>
                            <td>{r.login_id.clone()}</td>
                            <td>{r.name.clone()}</td>
                            <td><code>{r.number.clone()}</code></td>
                            <td>{tr(kind)}</td>
                            <td><span class=state_class(r.state) data-testid="enrol-state">{move || label.in_lang(lang.get()).to_string()}</span></td>
                            <td>{r.failures}</td>
                            <td>{r.used_at.as_deref().map(date_part).map(str::to_string).unwrap_or_else(|| minute(&r.expires_at))}</td>
                            <td class="actions">
                                {resettable.then(|| view! {
                                    <button type="button" class="small" data-testid=format!("enrol-reset-{}", r.login_id)
                                        on:click=move |_| {
                                            leptos::task::spawn_local(async move { shown.run(reset_enrolment(user_id).await); });
                                        }>{tr(Key::EnrolReset)}</button>
                                })}
                            </td>
                        </tr>
                    }
                }).collect_view()}
            </tbody>
        </table>
    }
    .into_any()
}
