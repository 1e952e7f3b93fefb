use crate::components::ErrorBanner;
use crate::i18n::{audit_action_label, tr, use_lang, Key};
use crate::server_fns::audit_log;
use leptos::prelude::*;

/// The newest audit rows, each action by its label (a stored name this certdesk does not know
/// is shown as it is).
#[component]
pub fn AuditPage() -> impl IntoView {
    let lang = use_lang();
    let rows = crate::codec::page_resource(|| (), |_| audit_log());
    view! {
        <h1>{tr(Key::AuditTitle)}</h1>
        <p class="hint">{tr(Key::AuditNewest)}</p>
        <Suspense fallback=move || view! { <p>{tr(Key::Loading)}</p> }>
            {move || {
                rows.get().map(|r| match r {
                    Ok(rows) if rows.is_empty() => view! { <p>{tr(Key::AuditEmpty)}</p> }.into_any(),
                    Ok(rows) => view! {
                        <table class="table" data-testid="audit-table">
                            <thead>
                                <tr>
                                    <th scope="col">{tr(Key::AuditAt)}</th>
                                    <th scope="col">{tr(Key::AuditActor)}</th>
                                    <th scope="col">{tr(Key::AuditAction)}</th>
                                    <th scope="col">{tr(Key::AuditTarget)}</th>
                                    <th scope="col">{tr(Key::AuditOutcome)}</th>
                                    <th scope="col">{tr(Key::AuditDetail)}</th>
                                </tr>
                            </thead>
                            <tbody>
                                {rows
                                    .into_iter()
                                    .map(|row| {
                                        let action = row.action.clone();
                                        let outcome = if row.success { Key::OutcomeSuccess } else { Key::OutcomeFailure };
                                        view! {
                                            <tr data-action=action>
                                                <td>{row.at}</td>
                                                <td>{row.actor}</td>
                                                <td>{move || audit_action_label(lang.get(), &row.action)}</td>
                                                <td>{row.target.unwrap_or_default()}</td>
                                                <td class:failure=!row.success>{tr(outcome)}</td>
                                                <td><code>{row.detail}</code></td>
                                            </tr>
                                        }
                                    })
                                    .collect_view()}
                            </tbody>
                        </table>
                    }
                        .into_any(),
                    Err(e) => view! { <ErrorBanner error=e/> }.into_any(),
                })
            }}
        </Suspense>
    }
}
