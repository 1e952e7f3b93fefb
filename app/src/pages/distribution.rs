//! The Distribution page: hand each user their `.p12` and its password through separate
//! channels. A single file (generated password shown once, or a typed one), a bundle for a
//! selection (one ZIP of `.p12` files; the passwords as a CSV and a printable sheet, never in
//! the ZIP), or pickups (a certificate number and a one-time pickup password per user, for the
//! self-service page `/pickup`). Keys stay until 24 hours after their first download.
//! A fourth channel, enrolment codes ([`enrol`]), lets the users make their keys in their own
//! browsers; a certificate whose key its holder made gets no server-made file.

mod enrol;

use crate::components::ErrorBanner;
use crate::error::UiError;
use crate::i18n::{tr, use_lang, Key};
use crate::server_fns::distribution::{
    distribution_overview, mail_pickups, prepare_bundle, prepare_pickups, prepare_single,
    reset_pickup, save_default_profile, save_pickup_expiry,
};
use crate::server_fns::enrolment::{enrolment_overview, open_enrolments};
use certdesk_domain::distribution::P12Profile;
use certdesk_domain::enrolment::EnrolmentSlip;
use certdesk_domain::views::{date_part, DeliveryCreated, DistributionRow, KeyCustody};
use leptos::prelude::*;
use std::collections::BTreeSet;

#[derive(Debug, Clone, PartialEq)]
enum Dialog {
    Single {
        user_id: i64,
        login_id: String,
    },
    Working,
    Done(DeliveryCreated),
    Failed(UiError),
    /// Enrolment codes for the selection: reissue or not, then open.
    Enrol,
    EnrolDone(Vec<EnrolmentSlip>),
}

fn custody_view(key: &KeyCustody) -> impl IntoView {
    let (class, label, until) = match key {
        KeyCustody::Held => ("badge state-valid", Key::DistKeyHeld, None),
        KeyCustody::InWindow { until, .. } => (
            "badge badge-info",
            Key::DistKeyInWindow,
            Some(until.get(..16).unwrap_or(until).replace('T', " ")),
        ),
        KeyCustody::Erased => ("badge state-none", Key::DistKeyErased, None),
    };
    view! {
        <span class=class data-testid="custody">{tr(label)}</span>
        {until.map(|u| view! { " " <small class="hint">{u} " UTC"</small> })}
    }
}

#[component]
fn Result(created: DeliveryCreated) -> impl IntoView {
    let token = created.token.clone();
    let file = format!("/distribution/{token}/file");
    let sheet = format!("/distribution/{token}/sheet");
    let csv = format!("/distribution/{token}/passwords.csv");
    let expires = created
        .expires_at
        .get(..16)
        .unwrap_or(&created.expires_at)
        .replace('T', " ");
    let kind = created.kind.clone();
    let slips = created.slips.clone();
    let file_name = created.file_name.clone().unwrap_or_default();
    view! {
        <div class="delivery-result" data-testid="delivery-result" data-kind=kind.clone() data-token=token.clone()>
            {(kind != "pickup").then(|| view! {
                <p><a href=file.clone() rel="external" download=file_name.clone() data-testid="delivery-file">{tr(Key::DistDownloadFile)} " " <code>{file_name.clone()}</code></a></p>
            })}
            {(kind != "single").then(|| view! {
                <p>
                    <a href=sheet.clone() rel="external" target="_blank" data-testid="delivery-sheet">{tr(Key::DistSheet)}</a> " · "
                    <a href=csv.clone() rel="external" download="certdesk-passwords.csv" data-testid="delivery-passwords">{tr(Key::DistPasswordsCsv)}</a>
                </p>
                <p class="hint">{tr(Key::DistSeparateChannels)}</p>
            })}
            {(!slips.is_empty()).then(|| view! {
                <p class="notice">{tr(Key::DistShownOnce)}</p>
                <table class="table" data-testid="slips">
                    <thead><tr>
                        <th scope="col">{tr(Key::FieldLoginId)}</th>
                        <th scope="col">{tr(Key::FieldName)}</th>
                        {(kind == "pickup").then(|| view! { <th scope="col">{tr(Key::DistPickupNumber)}</th> })}
                        <th scope="col">{tr(Key::FieldPassword)}</th>
                    </tr></thead>
                    <tbody>
                        {slips.into_iter().map(|s| view! {
                            <tr data-login=s.login_id.clone()>
                                <td>{s.login_id.clone()}</td>
                                <td>{s.name.clone()}</td>
                                {s.pickup_number.clone().map(|n| view! { <td><code data-testid="pickup-number">{n}</code></td> })}
                                <td><code class="password" data-testid="password">{s.password.clone()}</code></td>
                            </tr>
                        }).collect_view()}
                    </tbody>
                </table>
            })}
            {(kind == "pickup").then(|| {
                let mailed = RwSignal::new(None::<Result<u32, UiError>>);
                let token = token.clone();
                view! {
                    <p>
                        <button type="button" class="small" data-testid="mail-pickups"
                            disabled=move || matches!(mailed.get(), Some(Ok(_)))
                            on:click=move |_| {
                                let token = token.clone();
                                leptos::task::spawn_local(async move { mailed.set(Some(mail_pickups(token).await)); });
                            }>{tr(Key::DistMailPickups)}</button>
                        " " <small class="hint">{tr(Key::DistMailPickupsHint)}</small>
                    </p>
                    {move || match mailed.get() {
                        Some(Ok(n)) => Some(view! { <p class="ok" role="status" data-testid="mailed">{tr(Key::DistMailed)} ": " {n}</p> }.into_any()),
                        Some(Err(e)) => Some(view! { <ErrorBanner error=e/> }.into_any()),
                        None => None,
                    }}
                }
            })}
            <p class="hint">{tr(Key::DistExpires)} ": " {expires} " UTC"</p>
        </div>
    }
}

#[component]
pub fn DistributionPage() -> impl IntoView {
    let lang = use_lang();
    let reload = RwSignal::new(0u32);
    let data = crate::codec::page_resource(move || reload.get(), |_| distribution_overview());
    let selected = RwSignal::new(BTreeSet::<i64>::new());
    let dialog = RwSignal::new(None::<Dialog>);
    let profile = RwSignal::new(None::<P12Profile>);
    let typed = RwSignal::new(String::new());
    let saved = RwSignal::new(false);
    let page_error = RwSignal::new(None::<UiError>);
    let step_up = crate::components::StepUp::get();
    let enrolments = crate::codec::page_resource(move || reload.get(), |_| enrolment_overview());
    let reissue = RwSignal::new(false);
    // Users whose certificate key its holder made: no server-made file for them. Read
    // inside the Suspense that shows the table.
    let holder = move |id: i64| {
        enrolments
            .get()
            .and_then(Result::ok)
            .is_some_and(|o| o.holder_keys.contains(&id))
    };
    // Bundles and pickups only for users with a server-made key (read inside the bulk bar's
    // Suspense).
    let files_off = move || {
        let chosen = selected.get();
        chosen.is_empty()
            || data.get().and_then(Result::ok).is_none_or(|d| {
                d.rows.iter().any(|r| {
                    chosen.contains(&r.user_id)
                        && (r.serial.is_none() || r.key == KeyCustody::Erased)
                })
            })
    };

    let chosen_profile = move || {
        profile.get().unwrap_or_else(|| {
            data.get()
                .and_then(Result::ok)
                .map(|d| d.default_profile)
                .unwrap_or_default()
        })
    };
    let finish = move |r: Result<DeliveryCreated, UiError>| {
        dialog.set(Some(match r {
            Ok(c) => Dialog::Done(c),
            Err(e) => Dialog::Failed(e),
        }));
        reload.update(|n| *n += 1);
    };
    let run_bulk = move |pickup: bool| {
        let ids: Vec<i64> = selected.get_untracked().into_iter().collect();
        let p = chosen_profile().as_str().to_string();
        dialog.set(Some(Dialog::Working));
        leptos::task::spawn_local(async move {
            let r = step_up
                .guard(|| {
                    let (ids, p) = (ids.clone(), p.clone());
                    async move {
                        if pickup {
                            prepare_pickups(ids, p).await
                        } else {
                            prepare_bundle(ids, p).await
                        }
                    }
                })
                .await;
            finish(r);
        });
    };
    let run_enrol = move || {
        let ids: Vec<i64> = selected.get_untracked().into_iter().collect();
        let again = reissue.get_untracked();
        dialog.set(Some(Dialog::Working));
        leptos::task::spawn_local(async move {
            let r = step_up.guard(|| open_enrolments(ids.clone(), again)).await;
            dialog.set(Some(match r {
                Ok(slips) => Dialog::EnrolDone(slips),
                Err(e) => Dialog::Failed(e),
            }));
            reload.update(|n| *n += 1);
        });
    };
    let show_reset = Callback::new(move |r: Result<EnrolmentSlip, UiError>| {
        dialog.set(Some(match r {
            Ok(slip) => Dialog::EnrolDone(vec![slip]),
            Err(e) => Dialog::Failed(e),
        }));
        reload.update(|n| *n += 1);
    });
    let run_single = move |user_id: i64| {
        let p = chosen_profile().as_str().to_string();
        let password = typed.get_untracked();
        dialog.set(Some(Dialog::Working));
        leptos::task::spawn_local(async move {
            let r = step_up
                .guard(|| prepare_single(user_id, p.clone(), password.clone()))
                .await;
            finish(r);
        });
    };

    let profile_picker = move || {
        let current = chosen_profile();
        view! {
            <fieldset class="field profile-picker" data-testid="profile-picker">
                <legend>{tr(Key::DistProfile)}</legend>
                {P12Profile::ALL.into_iter().map(|p| {
                    let label = p.label();
                    view! {
                        <label>
                            <input type="radio" name="p12-profile" value=p.as_str() checked=current == p
                                data-testid=format!("profile-{}", p.as_str())
                                on:change=move |_| { profile.set(Some(p)); saved.set(false); }/>
                            " " {move || label.in_lang(lang.get()).to_string()}
                        </label>
                        " "
                    }
                }).collect_view()}
                <p class="hint">{tr(Key::DistProfileHint)}</p>
                <button type="button" class="small" data-testid="save-default-profile"
                    on:click=move |_| {
                        let p = chosen_profile().as_str().to_string();
                        page_error.set(None);
                        leptos::task::spawn_local(async move {
                            match save_default_profile(p).await {
                                Ok(()) => saved.set(true),
                                Err(e) => page_error.set(Some(e)),
                            }
                        });
                    }>{tr(Key::DistSaveDefault)}</button>
                {move || saved.get().then(|| view! { " " <span class="ok" role="status">{tr(Key::Saved)}</span> })}
            </fieldset>
        }
    };

    // How long an unopened pickup stays open (a master setting).
    let expiry = RwSignal::new(None::<String>);
    let expiry_saved = RwSignal::new(false);
    let expiry_setting = move || {
        let current = move || {
            expiry.get().unwrap_or_else(|| {
                data.get()
                    .and_then(Result::ok)
                    .map(|d| d.pickup_expiry_days.to_string())
                    .unwrap_or_default()
            })
        };
        view! {
            <div class="field" data-testid="pickup-expiry">
                <label for="field-pickup_expiry_days">{tr(Key::DistPickupExpiry)}</label>
                <input id="field-pickup_expiry_days" type="number" min="1" max="365" inputmode="numeric"
                    prop:value=current
                    on:input=move |ev| { expiry.set(Some(event_target_value(&ev))); expiry_saved.set(false); }/>
                " "
                <button type="button" class="small" data-testid="save-pickup-expiry"
                    on:click=move |_| {
                        let days = current().trim().parse::<u32>().unwrap_or(0);
                        page_error.set(None);
                        leptos::task::spawn_local(async move {
                            match save_pickup_expiry(days).await {
                                Ok(()) => expiry_saved.set(true),
                                Err(e) => page_error.set(Some(e)),
                            }
                        });
                    }>{tr(Key::DistSaveExpiry)}</button>
                {move || expiry_saved.get().then(|| view! { " " <span class="ok" role="status">{tr(Key::Saved)}</span> })}
                <small class="hint">{tr(Key::DistPickupExpiryHint)}</small>
            </div>
        }
    };

    let row_view = move |r: DistributionRow| {
        let id = r.user_id;
        let login = r.login_id.clone();
        let has_cert = r.serial.is_some();
        let has_key = r.key != KeyCustody::Erased && has_cert;
        let pickup = r.pickup.clone();
        view! {
            <tr data-login=r.login_id.clone() data-has-key=has_key.to_string()>
                <td>
                    <input type="checkbox" aria-label=r.login_id.clone()
                        prop:checked=move || selected.get().contains(&id)
                        on:change=move |ev| {
                            let on = event_target_checked(&ev);
                            selected.update(|s| { if on { s.insert(id); } else { s.remove(&id); } });
                        }/>
                </td>
                <td>{r.login_id.clone()}</td>
                <td>{r.name.clone()}</td>
                <td>{r.serial.clone().map(|s| view! { <code>{s}</code> })}
                    {r.not_after.clone().map(|d| format!(" ({})", date_part(&d)))}
                    {(!has_cert).then(|| view! { <span class="hint">{tr(Key::StateNone)}</span> })}</td>
                <td>{move || if holder(id) {
                        view! { <span class="badge badge-info" data-testid="key-holder">{tr(Key::EnrolKeyByHolder)}</span> }.into_any()
                    } else {
                        has_cert.then(|| custody_view(&r.key)).into_any()
                    }}</td>
                <td>{pickup.map(|p| {
                        let status = if p.locked { Key::DistPickupLocked } else if p.first_download_at.is_some() { Key::DistPickupTaken } else { Key::DistPickupOpen };
                        view! {
                            <code>{p.number.clone()}</code> " "
                            <span class="badge" data-testid="pickup-state">{tr(status)}</span>
                            {p.locked.then(|| view! {
                                " " <button type="button" class="small" data-testid=format!("reset-pickup-{}", login.clone())
                                    on:click=move |_| {
                                        leptos::task::spawn_local(async move {
                                            match reset_pickup(id).await {
                                                Ok(()) => reload.update(|n| *n += 1),
                                                Err(e) => page_error.set(Some(e)),
                                            }
                                        });
                                    }>{tr(Key::DistPickupReset)}</button>
                            })}
                        }
                    })}</td>
                <td class="actions">
                    {move || holder(id).then(|| view! { <small class="hint" data-testid="no-server-file">{tr(Key::EnrolKeyByHolder)}</small> })}
                    {has_key.then(|| {
                        let login = r.login_id.clone();
                        view! {
                            <button type="button" class="small" data-testid=format!("single-{}", r.login_id)
                                on:click=move |_| { typed.set(String::new()); dialog.set(Some(Dialog::Single { user_id: id, login_id: login.clone() })) }>
                                {tr(Key::DistSingle)}</button>
                        }
                    })}
                </td>
            </tr>
        }
    };

    let dialog_view = move || {
        dialog.get().map(|d| {
            let body = match d {
                Dialog::Single { user_id, login_id } => view! {
                    <h2>{tr(Key::DistSingle)} " " {login_id.clone()}</h2>
                    {profile_picker}
                    <div class="field">
                        <label for="field-p12-password">{tr(Key::DistTypedPassword)}</label>
                        <input id="field-p12-password" type="password" autocomplete="new-password" data-testid="typed-password"
                            prop:value=move || typed.get() on:input=move |ev| typed.set(event_target_value(&ev))/>
                        <small class="hint">{tr(Key::DistTypedPasswordHint)}</small>
                    </div>
                    <div class="dialog-buttons">
                        <button type="button" class="primary" data-testid="prepare-single" on:click=move |_| run_single(user_id)>{tr(Key::DistPrepare)}</button>
                        <button type="button" on:click=move |_| dialog.set(None)>{tr(Key::Cancel)}</button>
                    </div>
                }
                .into_any(),
                Dialog::Working => view! { <p role="status">{tr(Key::Working)}</p> }.into_any(),
                Dialog::Enrol => view! {
                    <h2>{tr(Key::EnrolTitle)}</h2>
                    <p class="hint">{tr(Key::EnrolIntro)}</p>
                    <p>{move || tr(Key::CertSelected)()} ": " <strong>{move || selected.get().len()}</strong></p>
                    <div class="field field-check">
                        <label>
                            <input type="checkbox" data-testid="enrol-reissue" prop:checked=move || reissue.get()
                                on:change=move |ev| reissue.set(event_target_checked(&ev))/>
                            " " {tr(Key::EnrolReissue)}
                        </label>
                    </div>
                    <div class="dialog-buttons">
                        <button type="button" class="primary" data-testid="enrol-open" on:click=move |_| run_enrol()>{tr(Key::EnrolOpen)}</button>
                        <button type="button" on:click=move |_| dialog.set(None)>{tr(Key::Cancel)}</button>
                    </div>
                }
                .into_any(),
                Dialog::EnrolDone(slips) => view! {
                    <h2>{tr(Key::EnrolCodesReady)}</h2>
                    <enrol::EnrolSlips slips/>
                    <div class="dialog-buttons">
                        <button type="button" data-testid="close-dialog" on:click=move |_| { dialog.set(None); selected.set(BTreeSet::new()); }>{tr(Key::Close)}</button>
                    </div>
                }
                .into_any(),
                Dialog::Done(created) => view! {
                    <h2>{tr(Key::DistReady)}</h2>
                    <Result created/>
                    <div class="dialog-buttons">
                        <button type="button" data-testid="close-dialog" on:click=move |_| { dialog.set(None); selected.set(BTreeSet::new()); }>{tr(Key::Close)}</button>
                    </div>
                }
                .into_any(),
                Dialog::Failed(e) => view! {
                    // A certificate run holds the organisation's one run: its progress is on
                    // the Certificates page.
                    <ErrorBanner error=e.clone()/>
                    {(e.code == "E-CERT-013").then(|| view! {
                        <p><a href="/certificates" data-testid="follow-run">{tr(Key::DistFollowRun)}</a></p>
                    })}
                    <div class="dialog-buttons">
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
        <h1>{tr(Key::DistributionTitle)}</h1>
        <p class="hint">{tr(Key::DistIntro)}</p>
        <Suspense fallback=|| ()>{profile_picker}{expiry_setting}</Suspense>
        {move || page_error.get().map(|e| view! { <ErrorBanner error=e/> })}
        <Suspense fallback=|| ()>
        <div class="bulk-bar" data-testid="bulk-bar">
            <span>{move || tr(Key::CertSelected)()} ": " <strong data-testid="selected-count">{move || selected.get().len()}</strong></span>
            <button type="button" data-testid="bulk-bundle" disabled=files_off on:click=move |_| run_bulk(false)>{tr(Key::DistBundle)}</button>
            <button type="button" data-testid="bulk-pickup" disabled=files_off on:click=move |_| run_bulk(true)>{tr(Key::DistPickup)}</button>
            <button type="button" data-testid="bulk-enrol" disabled=move || selected.get().is_empty()
                on:click=move |_| { reissue.set(false); dialog.set(Some(Dialog::Enrol)); }>{tr(Key::EnrolChannel)}</button>
        </div>
        </Suspense>
        <Suspense fallback=move || view! { <p>{tr(Key::Loading)}</p> }>
            {move || data.get().map(|r| match r {
                Ok(d) => {
                    let with_keys: Vec<i64> = d.rows.iter().filter(|r| r.serial.is_some() && r.key != KeyCustody::Erased).map(|r| r.user_id).collect();
                    view! {
                        <p class="hint">{tr(Key::DistPickupAt)} " " <code>"/pickup"</code> " · " {tr(Key::FieldGroupId)} ": " <code>{d.group_id.clone()}</code></p>
                        <table class="table" data-testid="distribution-table">
                            <thead><tr>
                                <th scope="col"><input type="checkbox" aria-label=tr(Key::CertSelectAll) data-testid="select-all"
                                    on:change=move |ev| {
                                        let on = event_target_checked(&ev);
                                        selected.set(if on { with_keys.iter().copied().collect() } else { BTreeSet::new() });
                                    }/></th>
                                <th scope="col">{tr(Key::FieldLoginId)}</th>
                                <th scope="col">{tr(Key::FieldName)}</th>
                                <th scope="col">{tr(Key::CertSerial)}</th>
                                <th scope="col">{tr(Key::DistKey)}</th>
                                <th scope="col">{tr(Key::DistPickupColumn)}</th>
                                <th scope="col">{tr(Key::CertActions)}</th>
                            </tr></thead>
                            <tbody>{d.rows.into_iter().map(row_view).collect_view()}</tbody>
                        </table>
                    }
                    .into_any()
                }
                Err(e) => view! { <ErrorBanner error=e/> }.into_any(),
            })}
        </Suspense>
        <section data-testid="enrolments">
            <h2>{tr(Key::EnrolListTitle)}</h2>
            <Suspense fallback=|| ()>
                {move || enrolments.get().map(|r| match r {
                    Ok(overview) => view! { <enrol::EnrolmentList overview shown=show_reset/> }.into_any(),
                    Err(e) => view! { <ErrorBanner error=e/> }.into_any(),
                })}
            </Suspense>
        </section>
        {dialog_view}
    }
}
