//! The Certificates page: every user with their current certificate, actions per user and for
//! a selection. Each action opens a dialog (reason picker for revoke and reissue, then
//! confirmation); the run's progress and each user's result appear in the same dialog.

use crate::components::ErrorBanner;
use crate::error::UiError;
use crate::i18n::{tr, use_lang, Key};
use crate::server_fns::certificates::{certificate_run_status, start_certificate_run};
use crate::server_fns::dashboard::certificate_overview_in;
use certdesk_domain::dashboard::Bucket;
use certdesk_domain::lifecycle::{CertificateState, RevocationReason};
use certdesk_domain::views::{date_part, BulkStatus, RunItemStatus, UserCertificates};
use certdesk_domain::OperationKind as Op;
use leptos::prelude::*;
use std::collections::BTreeSet;

/// The button label of an operation.
fn op_key(op: Op) -> Key {
    match op {
        Op::Issue => Key::CertIssue,
        Op::Renew => Key::CertRenew,
        Op::Revoke => Key::CertRevoke,
        Op::Reissue => Key::CertReissue,
    }
}

/// The operations that ask for a revocation reason.
fn needs_reason(op: Op) -> bool {
    matches!(op, Op::Revoke | Op::Reissue)
}

/// What the dialog is doing.
#[derive(Debug, Clone, PartialEq)]
enum Dialog {
    Confirm { op: Op, users: Vec<(i64, String)> },
    Running { op: Op, status: Option<BulkStatus> },
    Failed(UiError),
}

pub fn state_key(state: Option<CertificateState>) -> Key {
    match state {
        None => Key::StateNone,
        Some(CertificateState::Valid) => Key::StateValid,
        Some(CertificateState::Revoked) => Key::StateRevoked,
        Some(CertificateState::Expired) => Key::StateExpired,
        Some(CertificateState::Superseded) => Key::StateSuperseded,
    }
}

/// Polls a run until it finishes, then reloads the list.
fn poll(job: i64, dialog: RwSignal<Option<Dialog>>, reload: RwSignal<u32>) {
    leptos::task::spawn_local(async move {
        match certificate_run_status(job).await {
            Ok(status) => {
                let finished = status.finished;
                dialog.set(Some(Dialog::Running {
                    op: status.operation,
                    status: Some(status),
                }));
                if finished {
                    reload.update(|n| *n += 1);
                } else {
                    set_timeout(
                        move || poll(job, dialog, reload),
                        std::time::Duration::from_millis(300),
                    );
                }
            }
            Err(e) => dialog.set(Some(Dialog::Failed(e))),
        }
    });
}

#[component]
pub fn CertificatesPage() -> impl IntoView {
    let lang = use_lang();
    let reload = RwSignal::new(0u32);
    // `?filter=<bucket>` from a dashboard count: only the users in that bucket.
    let query = leptos_router::hooks::use_query_map();
    let filter = Memo::new(move |_| query.read().get("filter").and_then(|f| Bucket::parse(&f)));
    let rows = crate::codec::page_resource(
        move || (reload.get(), filter.get()),
        |(_, f)| certificate_overview_in(f.map(|b| b.as_str().to_string())),
    );
    let selected = RwSignal::new(BTreeSet::<i64>::new());
    // A selection never reaches users the filter hides.
    Effect::new(move |_| {
        filter.track();
        selected.set(BTreeSet::new());
    });
    let dialog = RwSignal::new(None::<Dialog>);
    let reason = RwSignal::new(String::new());

    let open = move |op: Op, users: Vec<(i64, String)>| {
        reason.set(String::new());
        dialog.set(Some(Dialog::Confirm { op, users }));
    };
    let open_for_selection = move |op: Op| {
        let chosen = selected.get_untracked();
        let users = rows
            .get_untracked()
            .and_then(Result::ok)
            .unwrap_or_default()
            .into_iter()
            .filter(|u| chosen.contains(&u.user_id))
            .map(|u| (u.user_id, u.login_id))
            .collect();
        open(op, users);
    };
    let step_up = crate::components::StepUp::get();
    let confirm = move |_| {
        let Some(Dialog::Confirm { op, users }) = dialog.get_untracked() else {
            return;
        };
        let ids: Vec<i64> = users.iter().map(|u| u.0).collect();
        let why = needs_reason(op).then(|| reason.get_untracked());
        dialog.set(Some(Dialog::Running { op, status: None }));
        leptos::task::spawn_local(async move {
            let reason = why.as_deref().and_then(RevocationReason::parse);
            match step_up
                .guard(|| start_certificate_run(ids.clone(), op, reason))
                .await
            {
                Ok(job) => poll(job, dialog, reload),
                Err(e) => dialog.set(Some(Dialog::Failed(e))),
            }
        });
    };

    let bulk_bar = move || {
        let n = selected.get().len();
        view! {
            <div class="bulk-bar" data-testid="bulk-bar">
                <span>{move || tr(Key::CertSelected)()} ": " <strong data-testid="selected-count">{n}</strong></span>
                {[Op::Issue, Op::Renew, Op::Revoke, Op::Reissue]
                    .into_iter()
                    .map(|op| view! {
                        <button type="button" data-testid=format!("bulk-{}", op.as_str()) disabled=n == 0
                            on:click=move |_| open_for_selection(op)>{tr(op_key(op))}</button>
                    })
                    .collect_view()}
            </div>
        }
    };

    let row_view = move |u: UserCertificates| {
        let id = u.user_id;
        let login = u.login_id.clone();
        let state = u.current.as_ref().map(|c| c.state);
        let valid = state == Some(CertificateState::Valid);
        let renewable = u.current.as_ref().is_some_and(|c| c.renewable);
        let cert = u.current.clone();
        let action = move |op: Op, enabled: bool| {
            let login = login.clone();
            enabled.then(|| view! {
                <button type="button" class="small" data-testid=format!("{}-{}", op.as_str(), login.clone())
                    on:click=move |_| open(op, vec![(id, login.clone())])>{tr(op_key(op))}</button>
            })
        };
        view! {
            <tr data-login=u.login_id.clone() data-state=state.map_or("none", |s| s.as_str())>
                <td>
                    <input type="checkbox" aria-label=u.login_id.clone()
                        prop:checked=move || selected.get().contains(&id)
                        on:change=move |ev| {
                            let on = event_target_checked(&ev);
                            selected.update(|s| { if on { s.insert(id); } else { s.remove(&id); } });
                        }/>
                </td>
                <td>{u.login_id.clone()}</td>
                <td>{u.name.clone()} {u.locked.then(|| view! { " " <span class="badge badge-warn">{tr(Key::UsersLocked)}</span> })}</td>
                <td>
                    <span class=format!("badge state-{}", state.map_or("none", |s| s.as_str())) data-testid="state">{tr(state_key(state))}</span>
                    {renewable.then(|| view! { " " <span class="badge badge-info">{tr(Key::CertRenewable)}</span> })}
                </td>
                <td>{cert.as_ref().map(|c| { let href = format!("/certificates/{}", c.serial); view! { <a href=href><code>{c.serial.clone()}</code></a> } })}</td>
                <td>{cert.as_ref().map(|c| date_part(&c.not_after).to_string())}</td>
                <td class="num" data-testid="days-left">{cert.as_ref().filter(|_| valid).map(|c| c.days_left)}</td>
                <td class="actions">
                    {action(Op::Issue, !valid)}
                    {action(Op::Renew, valid)}
                    {action(Op::Revoke, valid)}
                    {action(Op::Reissue, valid)}
                </td>
            </tr>
        }
    };

    let dialog_view = move || {
        dialog.get().map(|d| {
            let body = match d {
                Dialog::Confirm { op, users } => {
                    let names = users.iter().map(|u| u.1.clone()).collect::<Vec<_>>().join(", ");
                    let count = users.len();
                    view! {
                        <h2>{tr(op_key(op))} " (" {count} ")"</h2>
                        <p class="dialog-users">{names}</p>
                        {needs_reason(op).then(|| view! {
                            <label for="revocation-reason">{tr(Key::CertReason)}</label>
                            <select id="revocation-reason" data-testid="reason"
                                on:change=move |ev| reason.set(event_target_value(&ev))>
                                <option value="">{tr(Key::CertReasonChoose)}</option>
                                {RevocationReason::ALL.into_iter().map(|r| {
                                    let label = r.label();
                                    view! { <option value=r.as_str()>{move || label.in_lang(lang.get()).to_string()}</option> }
                                }).collect_view()}
                            </select>
                        })}
                        <p class="hint">{tr(if op == Op::Reissue { Key::CertReissueHint } else { Key::CertConfirmHint })}</p>
                        <div class="dialog-buttons">
                            <button type="button" class="primary" data-testid="confirm" on:click=confirm>{tr(Key::Confirm)}</button>
                            <button type="button" on:click=move |_| dialog.set(None)>{tr(Key::Cancel)}</button>
                        </div>
                    }
                    .into_any()
                }
                Dialog::Running { op, status } => {
                    let finished = status.as_ref().is_some_and(|s| s.finished);
                    let (done, failed, total) = status.as_ref().map_or((0, 0, 0), |s| (s.done, s.failed, s.total));
                    let items = status.map(|s| s.items).unwrap_or_default();
                    view! {
                        <h2>{tr(op_key(op))}</h2>
                        <progress max=total.max(1) value=done + failed class:has-failures={failed > 0} data-testid="progress"></progress>
                        <p role="status" data-testid="progress-text">
                            {move || tr(Key::CertProgressDone)()} ": " {done} " / " {total}
                            {(failed > 0).then(|| view! { " · " {tr(Key::CertProgressFailed)} ": " {failed} })}
                            {finished.then(|| view! { " · " <strong data-testid="run-finished">{tr(Key::CertRunFinished)}</strong> })}
                        </p>
                        <ul class="results" data-testid="results">
                            {items.into_iter().map(|i| {
                                let (ja, en) = (i.message_ja.clone().unwrap_or_default(), i.message_en.clone().unwrap_or_default());
                                view! {
                                    <li data-login=i.login_id.clone() data-status=i.status.as_str() data-code=i.error_code.clone().unwrap_or_default()>
                                        <strong>{i.login_id.clone()}</strong> " "
                                        {match i.status {
                                            RunItemStatus::Done => view! { <span class="ok">{tr(Key::CertItemDone)}</span> " " <code>{i.serial.clone().unwrap_or_default()}</code> }.into_any(),
                                            RunItemStatus::Failed => view! { <span class="error-code">{i.error_code.clone().unwrap_or_default()}</span> " " {move || if lang.get() == certdesk_domain::Lang::Ja { ja.clone() } else { en.clone() }} }.into_any(),
                                            _ => view! { <span class="hint">{tr(Key::Working)}</span> }.into_any(),
                                        }}
                                    </li>
                                }
                            }).collect_view()}
                        </ul>
                        <div class="dialog-buttons">
                            <button type="button" data-testid="close-dialog" disabled=!finished
                                on:click=move |_| { dialog.set(None); selected.set(BTreeSet::new()); }>{tr(Key::Close)}</button>
                        </div>
                    }
                    .into_any()
                }
                Dialog::Failed(e) => view! {
                    <ErrorBanner error=e.clone()/>
                    <div class="dialog-buttons">
                        // E-CERT-013: follow the run that has not finished.
                        {e.run.map(|job| view! {
                            <button type="button" class="primary" data-testid="follow-run"
                                on:click=move |_| poll(job, dialog, reload)>{tr(Key::CertFollowRun)} " #" {job}</button>
                        })}
                        <button type="button" data-testid="close-dialog" on:click=move |_| dialog.set(None)>{tr(Key::Close)}</button>
                    </div>
                }
                .into_any(),
            };
            view! {
                <div class="dialog-backdrop">
                    <div class="dialog" role="dialog" aria-modal="true" data-testid="dialog">{body}</div>
                </div>
            }
        })
    };

    view! {
        <h1>{tr(Key::CertificatesTitle)}</h1>
        <p class="hint">{tr(Key::CertIntro)}</p>
        {move || filter.get().map(|b| view! {
            <p class="notice filter-indicator" data-testid="filter-indicator" data-filter=b.as_str()>
                {tr(Key::CertFilterShowing)} ": " <strong>{tr(crate::pages::bucket_key(b))}</strong> " · "
                <a href="/certificates" data-testid="show-all">{tr(Key::CertFilterShowAll)}</a>
            </p>
        })}
        {bulk_bar}
        <Suspense fallback=move || view! { <p>{tr(Key::Loading)}</p> }>
            {move || rows.get().map(|r| match r {
                Ok(users) => {
                    let all: Vec<i64> = users.iter().map(|u| u.user_id).collect();
                    view! {
                        <table class="table" data-testid="certificates-table">
                            <thead>
                                <tr>
                                    <th scope="col">
                                        <input type="checkbox" aria-label=tr(Key::CertSelectAll) data-testid="select-all"
                                            on:change=move |ev| {
                                                let on = event_target_checked(&ev);
                                                selected.set(if on { all.iter().copied().collect() } else { BTreeSet::new() });
                                            }/>
                                    </th>
                                    <th scope="col">{tr(Key::FieldLoginId)}</th>
                                    <th scope="col">{tr(Key::FieldName)}</th>
                                    <th scope="col">{tr(Key::CertState)}</th>
                                    <th scope="col">{tr(Key::CertSerial)}</th>
                                    <th scope="col">{tr(Key::CertNotAfter)}</th>
                                    <th scope="col">{tr(Key::CertDaysLeft)}</th>
                                    <th scope="col">{tr(Key::CertActions)}</th>
                                </tr>
                            </thead>
                            <tbody>{users.into_iter().map(row_view).collect_view()}</tbody>
                        </table>
                    }
                    .into_any()
                }
                Err(e) => view! { <ErrorBanner error=e/> }.into_any(),
            })}
        </Suspense>
        {dialog_view}
    }
}
