//! The Users page: the list (search, filter by role and state, sort), add, edit, console
//! password, delete, lock and unlock, and the CSV import (preview first, then one
//! all-or-nothing commit of the same file) and export.
//!
//! The list holds at most 100 users, so search, filters and sorting run in the page on the
//! list the server sent; every change goes to a server function and reloads the list.

use crate::components::ActionForm;
use crate::components::{ErrorBanner, FormErrorBanner};
use crate::error::UiError;
use crate::i18n::{tr, use_lang, Key};
use crate::pages::certificates::state_key;
use crate::server_fns::shell_info;
use crate::server_fns::users::{
    delete_user, import_users, lock_user, temporary_locks, unlock_user, users_list, AddUser,
    SetUserPassword, TemporaryLockView, UpdateUser,
};
use certdesk_domain::userfile::{column_letters, ImportMode, RowAction};
use certdesk_domain::views::{date_part, ImportPreview, UserCertificates};
use certdesk_domain::Role;
use leptos::prelude::*;

/// What the dialog shows.
#[derive(Debug, Clone, PartialEq)]
enum Dialog {
    Add,
    Edit(UserCertificates),
    Password(UserCertificates),
    Delete(UserCertificates),
}

fn role_key(role: Role) -> Key {
    match role {
        Role::Master => Key::RoleMaster,
        Role::Admin => Key::RoleAdmin,
        Role::General => Key::RoleGeneral,
    }
}

/// The error text of one field, if the server named it.
fn field_error(
    error: Signal<Option<UiError>>,
    name: &'static str,
) -> impl Fn() -> Option<AnyView> + Send + Sync + 'static {
    let lang = use_lang();
    move || {
        error
            .get()
            .filter(|e| e.field.as_deref() == Some(name))
            .map(|e| {
                view! { <span class="error-code">{e.code.clone()}</span> " " {e.message.in_lang(lang.get()).to_string()} }
                    .into_any()
            })
    }
}

#[component]
fn RoleSelect(#[prop(optional)] selected: Option<Role>) -> impl IntoView {
    let selected = selected.unwrap_or(Role::General);
    view! {
        <select id="field-role" name="role" data-testid="role">
            {[Role::General, Role::Admin, Role::Master].into_iter().map(|r| view! {
                <option value=r.as_str() selected=selected == r>{tr(role_key(r))}</option>
            }).collect_view()}
        </select>
    }
}

#[component]
fn UserForm(
    user: Option<UserCertificates>,
    dialog: RwSignal<Option<Dialog>>,
    reload: RwSignal<u32>,
) -> impl IntoView {
    let add = ServerAction::<AddUser>::new();
    let update = ServerAction::<UpdateUser>::new();
    let editing = user.is_some();
    let error = Signal::derive(move || {
        if editing {
            update.value().get().and_then(Result::err)
        } else {
            add.value().get().and_then(Result::err)
        }
    });
    Effect::new(move |_| {
        let ok = if editing {
            matches!(update.value().get(), Some(Ok(())))
        } else {
            matches!(add.value().get(), Some(Ok(())))
        };
        if ok {
            dialog.set(None);
            reload.update(|n| *n += 1);
        }
    });
    let login = user
        .as_ref()
        .map(|u| u.login_id.clone())
        .unwrap_or_default();
    let name = user.as_ref().map(|u| u.name.clone()).unwrap_or_default();
    let email = user.as_ref().map(|u| u.email.clone()).unwrap_or_default();
    let role = user.as_ref().map(|u| u.role);
    let user_id = user
        .as_ref()
        .map(|u| u.user_id.to_string())
        .unwrap_or_default();
    let fields = view! {
        <FormErrorBanner error=error/>
        <div class="field">
            <label for="field-login_id">{tr(Key::FieldLoginId)}</label>
            <input id="field-login_id" name="login_id" value=login.clone() readonly=editing autocomplete="off"/>
            <small class="hint">{tr(Key::FieldLoginIdHint)}</small>
            <p class="field-error" role="alert">{field_error(error, "login_id")}</p>
        </div>
        <div class="field">
            <label for="field-name">{tr(Key::FieldName)}</label>
            <input id="field-name" name="name" value=name autocomplete="off"/>
            <p class="field-error" role="alert">{field_error(error, "name")}</p>
        </div>
        <div class="field">
            <label for="field-email">{tr(Key::FieldEmail)}</label>
            <input id="field-email" name="email" type="text" inputmode="email" value=email autocomplete="off"/>
            <p class="field-error" role="alert">{field_error(error, "email")}</p>
        </div>
        <div class="field">
            <label for="field-role">{tr(Key::UsersRole)}</label>
            <RoleSelect selected=role.unwrap_or(Role::General)/>
            <small class="hint">{tr(Key::UsersRoleHint)}</small>
        </div>
    };
    let buttons = move |pending: Signal<bool>| {
        view! {
            <div class="dialog-buttons">
                <button type="submit" class="primary" data-testid="save-user" disabled=move || pending.get()>{tr(Key::Save)}</button>
                <button type="button" on:click=move |_| dialog.set(None)>{tr(Key::Cancel)}</button>
            </div>
        }
    };
    if editing {
        view! {
            <h2>{tr(Key::UsersEdit)} " " {login}</h2>
            <ActionForm action=update attr:data-testid="user-form">
                <input type="hidden" name="user_id" value=user_id/>
                {fields}
                {buttons(update.pending().into())}
            </ActionForm>
        }
        .into_any()
    } else {
        view! {
            <h2>{tr(Key::UsersAdd)}</h2>
            <ActionForm action=add attr:data-testid="user-form">
                {fields}
                <div class="field">
                    <label for="field-password">{tr(Key::FieldPassword)}</label>
                    <input id="field-password" name="password" type="password" autocomplete="new-password"/>
                    <small class="hint">{tr(Key::UsersPasswordHint)}</small>
                    <p class="field-error" role="alert">{field_error(error, "password")}</p>
                </div>
                <div class="field">
                    <label for="field-password_confirm">{tr(Key::FieldPasswordConfirm)}</label>
                    <input id="field-password_confirm" name="password_confirm" type="password" autocomplete="new-password"/>
                    <p class="field-error" role="alert">{field_error(error, "password_confirm")}</p>
                </div>
                {buttons(add.pending().into())}
            </ActionForm>
        }
        .into_any()
    }
}

#[component]
fn PasswordForm(
    user: UserCertificates,
    /// The signed-in user's own row: the current password is asked for.
    own: bool,
    dialog: RwSignal<Option<Dialog>>,
    reload: RwSignal<u32>,
) -> impl IntoView {
    let action = ServerAction::<SetUserPassword>::new();
    let error = Signal::derive(move || action.value().get().and_then(Result::err));
    Effect::new(move |_| {
        if matches!(action.value().get(), Some(Ok(()))) {
            dialog.set(None);
            reload.update(|n| *n += 1);
        }
    });
    view! {
        <h2>{tr(Key::UsersSetPassword)} " " {user.login_id.clone()}</h2>
        <ActionForm action=action attr:data-testid="password-form">
            <FormErrorBanner error=error/>
            <input type="hidden" name="user_id" value=user.user_id.to_string()/>
            {own.then(|| view! {
                <p class="hint">{tr(Key::UsersOwnPasswordHint)}</p>
                <div class="field">
                    <label for="field-current_password">{tr(Key::FieldCurrentPassword)}</label>
                    <input id="field-current_password" name="current_password" type="password" autocomplete="current-password" required=true/>
                    <p class="field-error" role="alert">{field_error(error, "current_password")}</p>
                </div>
            })}
            <div class="field">
                <label for="field-password">{tr(Key::FieldPassword)}</label>
                <input id="field-password" name="password" type="password" autocomplete="new-password"/>
                <small class="hint">{tr(Key::FieldPasswordHint)}</small>
                <p class="field-error" role="alert">{field_error(error, "password")}</p>
            </div>
            <div class="field">
                <label for="field-password_confirm">{tr(Key::FieldPasswordConfirm)}</label>
                <input id="field-password_confirm" name="password_confirm" type="password" autocomplete="new-password"/>
                <p class="field-error" role="alert">{field_error(error, "password_confirm")}</p>
            </div>
            <div class="dialog-buttons">
                <button type="submit" class="primary" data-testid="save-password">{tr(Key::Save)}</button>
                <button type="button" on:click=move |_| dialog.set(None)>{tr(Key::Cancel)}</button>
            </div>
        </ActionForm>
    }
}

/// The import panel: choose a file and a mode, preview, then import the same file.
#[component]
fn ImportPanel(reload: RwSignal<u32>) -> impl IntoView {
    let lang = use_lang();
    let preview = RwSignal::new(None::<ImportPreview>);
    let error = RwSignal::new(None::<UiError>);
    let busy = RwSignal::new(false);
    let form_ref = NodeRef::<leptos::html::Form>::new();

    let send = move |commit: bool| {
        let Some(form) = form_ref.get_untracked() else {
            return;
        };
        #[cfg(feature = "hydrate")]
        {
            let Ok(data) = web_sys::FormData::new_with_form(&form) else {
                return;
            };
            let _ = data.set_with_str("commit", if commit { "1" } else { "0" });
            if let Some(p) = preview.get_untracked().filter(|_| commit) {
                let _ = data.set_with_str("sha256", &p.sha256);
                let _ = data.set_with_str("adds", &p.plan.adds.to_string());
                let _ = data.set_with_str("updates", &p.plan.updates.to_string());
                let _ = data.set_with_str("unchanged", &p.plan.unchanged.to_string());
            }
            busy.set(true);
            error.set(None);
            leptos::task::spawn_local(async move {
                match import_users(data.into()).await {
                    Ok(p) => {
                        if p.committed {
                            reload.update(|n| *n += 1);
                        }
                        preview.set(Some(p));
                    }
                    Err(e) => {
                        if commit {
                            // Keep the preview in view; the error says why nothing was written.
                        } else {
                            preview.set(None);
                        }
                        error.set(Some(e));
                    }
                }
                busy.set(false);
            });
        }
        #[cfg(not(feature = "hydrate"))]
        {
            // Uploads happen in the browser only.
            let _ = (form, commit, reload, import_users);
        }
    };

    let summary = move || {
        preview.get().map(|p| {
            let clean = p.plan.is_clean();
            let nothing = p.plan.adds == 0 && p.plan.updates == 0;
            let committed = p.committed;
            let problems = p.plan.problems.clone();
            let rows = p.plan.rows.clone();
            let folded = p.folded.clone();
            view! {
                <div class="import-preview" data-testid="import-preview" data-committed=committed.to_string()>
                    <p data-testid="import-summary">
                        <strong>{p.file_name.clone()}</strong> " · "
                        {tr(Key::ImportEncoding)} ": " <span data-testid="import-encoding">{p.encoding.label()}</span> " · "
                        {tr(Key::ImportRows)} ": " {p.records} " · "
                        {tr(Key::ImportAdds)} ": " <strong data-testid="import-adds">{p.plan.adds}</strong> " · "
                        {tr(Key::ImportUpdates)} ": " <strong data-testid="import-updates">{p.plan.updates}</strong> " · "
                        {tr(Key::ImportUnchanged)} ": " <strong data-testid="import-unchanged">{p.plan.unchanged}</strong> " · "
                        {tr(Key::ImportProblems)} ": " <strong data-testid="import-problem-count">{problems.len()}</strong>
                    </p>
                    {(!p.ignored_columns.is_empty()).then(|| view! {
                        <p class="hint">{tr(Key::ImportIgnored)} ": " {p.ignored_columns.join(", ")}</p>
                    })}
                    {p.sheet.clone().map(|s| view! {
                        <p class="hint">{tr(Key::ImportSheet)} ": " <span data-testid="import-sheet-name">{s.name}</span></p>
                    })}
                    {(!folded.is_empty()).then(|| view! {
                        <div data-testid="import-folded">
                            <p>{tr(Key::ImportFolded)}</p>
                            <ul>
                                {folded.into_iter().map(|f| view! {
                                    <li data-cell=f.cell() data-row=f.row.to_string()>
                                        {format!("{} ({}): {} → {}", f.cell(), f.column_name, f.original, f.folded)}
                                    </li>
                                }).collect_view()}
                            </ul>
                        </div>
                    })}
                    {committed.then(|| view! {
                        <p class="ok" role="status" data-testid="import-done">{tr(Key::ImportDone)}</p>
                    })}
                    {(!problems.is_empty()).then(|| view! {
                        <div class="error-banner" role="alert">{tr(Key::ImportFixHint)}</div>
                        <table class="table" data-testid="import-problems">
                            <thead><tr>
                                <th scope="col">{tr(Key::ImportRow)}</th>
                                <th scope="col">{tr(Key::ImportColumn)}</th>
                                <th scope="col">{tr(Key::ErrorCode)}</th>
                                <th scope="col">{tr(Key::ImportMessage)}</th>
                            </tr></thead>
                            <tbody>
                                {problems.into_iter().map(|pr| {
                                    // As Excel shows it: the column letter and the cell (C4).
                                    let column = match (pr.column, pr.column_name.clone()) {
                                        (Some(n), Some(name)) => format!("{} ({name}) · {}", column_letters(n), pr.cell().unwrap_or_default()),
                                        (Some(n), None) => column_letters(n),
                                        _ => String::new(),
                                    };
                                    let message = pr.message.clone();
                                    view! {
                                        <tr data-row=pr.row.to_string() data-column=pr.column.map(|c| c.to_string()).unwrap_or_default() data-cell=pr.cell().unwrap_or_default() data-code=pr.code.clone()>
                                            <td class="num">{pr.row}</td>
                                            <td>{column}</td>
                                            <td><span class="error-code">{pr.code.clone()}</span></td>
                                            <td>{move || message.in_lang(lang.get()).to_string()}</td>
                                        </tr>
                                    }
                                }).collect_view()}
                            </tbody>
                        </table>
                    })}
                    <table class="table" data-testid="import-rows">
                        <thead><tr>
                            <th scope="col">{tr(Key::ImportRow)}</th>
                            <th scope="col">{tr(Key::FieldLoginId)}</th>
                            <th scope="col">{tr(Key::FieldName)}</th>
                            <th scope="col">{tr(Key::FieldEmail)}</th>
                            <th scope="col">{tr(Key::UsersRole)}</th>
                            <th scope="col">{tr(Key::ImportAction)}</th>
                        </tr></thead>
                        <tbody>
                            {rows.into_iter().map(|r| {
                                let (key, action, detail) = match &r.action {
                                    RowAction::Add => (Key::ImportActionAdd, "add", String::new()),
                                    RowAction::Update { changed } => (Key::ImportActionUpdate, "update", changed.join(", ")),
                                    RowAction::Unchanged => (Key::ImportActionUnchanged, "unchanged", String::new()),
                                };
                                view! {
                                    <tr data-login=r.login_id.to_string() data-action=action>
                                        <td class="num">{r.row}</td>
                                        <td>{r.login_id.to_string()}</td>
                                        <td>{r.name.as_str().to_string()}</td>
                                        <td>{r.email.as_str().to_string()}</td>
                                        <td>{tr(role_key(r.role))}</td>
                                        <td>{tr(key)} {(!detail.is_empty()).then(|| format!(" ({detail})"))}</td>
                                    </tr>
                                }
                            }).collect_view()}
                        </tbody>
                    </table>
                    {(!committed).then(|| view! {
                        <button type="button" class="primary" data-testid="import-commit"
                            disabled=move || busy.get() || !clean || nothing
                            on:click=move |_| send(true)>{tr(Key::ImportCommit)}</button>
                        {(!clean).then(|| view! { " " <span class="hint">{tr(Key::ImportBlocked)}</span> })}
                    })}
                </div>
            }
        })
    };

    view! {
        <section class="import" data-testid="import-panel">
            <h2>{tr(Key::ImportTitle)}</h2>
            <p class="hint">{tr(Key::ImportIntro)}</p>
            <p>
                {tr(Key::ImportTemplate)} ": "
                <a href="/users/template.csv?encoding=utf8" rel="external" download="certdesk-users-template.csv">"UTF-8"</a> " · "
                <a href="/users/template.csv?encoding=sjis" rel="external" download="certdesk-users-template-sjis.csv">"Shift_JIS"</a>
            </p>
            <form node_ref=form_ref data-testid="import-form" on:submit=move |ev| { ev.prevent_default(); send(false); }>
                <div class="field">
                    <label for="field-file">{tr(Key::ImportFile)}</label>
                    <input id="field-file" name="file" type="file" accept=".csv,.txt,.tsv,.xlsx,.xlsm,.xls,.ods,text/csv" data-testid="import-file"
                        on:change=move |_| { preview.set(None); error.set(None); }/>
                </div>
                // A workbook with several sheets: the sheet to read (choosing one previews it).
                {move || preview.get().and_then(|p| p.sheet).filter(|s| s.all.len() > 1).map(|s| view! {
                    <div class="field">
                        <label for="field-sheet">{tr(Key::ImportSheet)}</label>
                        <select id="field-sheet" name="sheet" data-testid="import-sheet" on:change=move |_| send(false)>
                            {s.all.iter().map(|n| view! {
                                <option value=n.clone() selected=*n == s.name>{n.clone()}</option>
                            }).collect_view()}
                        </select>
                    </div>
                })}
                <fieldset class="field">
                    <legend>{tr(Key::ImportMode)}</legend>
                    <label><input type="radio" name="mode" value=ImportMode::AddOnly.as_str() checked=true
                        on:change=move |_| preview.set(None)/> " " {tr(Key::ImportModeAdd)}</label>
                    " "
                    <label><input type="radio" name="mode" value=ImportMode::AddAndUpdate.as_str() data-testid="mode-update"
                        on:change=move |_| preview.set(None)/> " " {tr(Key::ImportModeUpdate)}</label>
                </fieldset>
                <button type="submit" data-testid="import-preview-button" disabled=move || busy.get()>{tr(Key::ImportPreview)}</button>
                {move || busy.get().then(|| view! { " " <span class="hint" role="status">{tr(Key::Working)}</span> })}
            </form>
            {move || error.get().map(|e| view! { <ErrorBanner error=e/> })}
            {summary}
        </section>
    }
}

#[component]
pub fn UsersPage() -> impl IntoView {
    let reload = RwSignal::new(0u32);
    let users = crate::codec::page_resource(move || reload.get(), |_| users_list());
    let temp_locks = crate::codec::page_resource(move || reload.get(), |_| temporary_locks());
    let me = crate::codec::page_resource(|| (), |_| shell_info());
    let my_login = move || {
        me.get()
            .and_then(Result::ok)
            .map(|i| i.login_id)
            .unwrap_or_default()
    };
    // user id -> end of the running temporary lock (JST).
    let lock_until = move |id: i64| -> Option<String> {
        temp_locks
            .get()
            .and_then(Result::ok)
            .unwrap_or_default()
            .into_iter()
            .find(|l: &TemporaryLockView| l.user_id == id)
            .map(|l| l.until_jst)
    };
    let dialog = RwSignal::new(None::<Dialog>);
    let action_error = RwSignal::new(None::<UiError>);
    let search = RwSignal::new(String::new());
    let role_filter = RwSignal::new(None::<Role>);
    let state_filter = RwSignal::new(String::new());
    let sort = RwSignal::new("login".to_string());

    let quick = move |work: &'static str, login: String| {
        action_error.set(None);
        leptos::task::spawn_local(async move {
            let result = match work {
                "lock" => lock_user(login).await,
                _ => unlock_user(login).await,
            };
            match result {
                Ok(()) => reload.update(|n| *n += 1),
                Err(e) => action_error.set(Some(e)),
            }
        });
    };
    let delete_error = RwSignal::new(None::<UiError>);
    let confirm_delete = move |id: i64| {
        delete_error.set(None);
        leptos::task::spawn_local(async move {
            match delete_user(id).await {
                Ok(()) => {
                    dialog.set(None);
                    reload.update(|n| *n += 1);
                }
                Err(e) => delete_error.set(Some(e)),
            }
        });
    };

    let visible = move |all: Vec<UserCertificates>| {
        let needle = search.get().trim().to_lowercase();
        let role = role_filter.get();
        let state = state_filter.get();
        let mut list: Vec<UserCertificates> = all
            .into_iter()
            .filter(|u| {
                needle.is_empty()
                    || u.login_id.to_lowercase().contains(&needle)
                    || u.name.to_lowercase().contains(&needle)
            })
            .filter(|u| role.is_none_or(|r| u.role == r))
            .filter(|u| {
                let locked = u.locked || lock_until(u.user_id).is_some();
                match state.as_str() {
                    "active" => !locked,
                    "locked" => locked,
                    _ => true,
                }
            })
            .collect();
        match sort.get().as_str() {
            "name" => list.sort_by(|a, b| a.name.cmp(&b.name)),
            // By the role's name, as the list always sorted: admin, general, master.
            "role" => list.sort_by(|a, b| {
                a.role
                    .as_str()
                    .cmp(b.role.as_str())
                    .then(a.login_id.cmp(&b.login_id))
            }),
            "expiry" => list.sort_by(|a, b| {
                let key = |u: &UserCertificates| {
                    u.current
                        .as_ref()
                        .map(|c| c.not_after.clone())
                        .unwrap_or_else(|| "~".into())
                };
                key(a).cmp(&key(b))
            }),
            _ => list.sort_by_key(|u| u.login_id.to_lowercase()),
        }
        list
    };

    let row_view = move |u: UserCertificates| {
        let state = u.current.as_ref().map(|c| c.state);
        let login = u.login_id.clone();
        let login2 = u.login_id.clone();
        let (edit_u, pw_u, del_u) = (u.clone(), u.clone(), u.clone());
        let signs_in = u.role.may_sign_in_to_console();
        let until = lock_until(u.user_id);
        let lock_kind = match (u.locked, &until) {
            (true, _) => "permanent",
            (false, Some(_)) => "temporary",
            (false, None) => "none",
        };
        let any_lock = u.locked || until.is_some();
        view! {
            <tr data-login=u.login_id.clone() data-role=u.role.as_str() data-locked=u.locked.to_string() data-lock=lock_kind>
                <td>{u.login_id.clone()}</td>
                <td data-testid="user-name">{u.name.clone()}</td>
                <td>{u.email.clone()}</td>
                <td>{tr(role_key(u.role))}
                    {(signs_in && !u.has_password).then(|| view! { " " <span class="badge badge-info" title=tr(Key::UsersNoPasswordHint)>{tr(Key::UsersNoPassword)}</span> })}
                </td>
                <td>{if u.locked {
                        view! { <span class="badge badge-warn" title=tr(Key::UsersLockedPermanentHint)>{tr(Key::UsersLocked)}</span> }.into_any()
                    } else if let Some(until) = until {
                        view! { <span class="badge badge-warn" title=tr(Key::UsersLockedTemporarilyHint)>
                            {tr(Key::UsersLockedTemporarilyBefore)} {until} {tr(Key::UsersLockedTemporarilyAfter)}
                        </span> }.into_any()
                    } else {
                        view! { <span class="badge">{tr(Key::UsersActive)}</span> }.into_any()
                    }}</td>
                <td><span class=format!("badge state-{}", state.map_or("none", |s| s.as_str()))>{tr(state_key(state))}</span>
                    {u.current.as_ref().map(|c| format!(" {}", date_part(&c.not_after)))}</td>
                <td class="actions">
                    <button type="button" class="small" data-testid=format!("edit-{login}") on:click=move |_| dialog.set(Some(Dialog::Edit(edit_u.clone())))>{tr(Key::UsersEdit)}</button>
                    {signs_in.then(|| view! {
                        <button type="button" class="small" on:click=move |_| dialog.set(Some(Dialog::Password(pw_u.clone())))>{tr(Key::UsersSetPassword)}</button>
                    })}
                    {if any_lock {
                        view! { <button type="button" class="small" data-testid=format!("unlock-{login2}") on:click=move |_| quick("unlock", login2.clone())>{tr(Key::UsersUnlock)}</button> }.into_any()
                    } else {
                        view! { <button type="button" class="small" data-testid=format!("lock-{login2}") on:click=move |_| quick("lock", login2.clone())>{tr(Key::UsersLock)}</button> }.into_any()
                    }}
                    <button type="button" class="small danger" data-testid=format!("delete-{}", u.login_id) on:click=move |_| { delete_error.set(None); dialog.set(Some(Dialog::Delete(del_u.clone()))) }>{tr(Key::UsersDelete)}</button>
                </td>
            </tr>
        }
    };

    let dialog_view = move || {
        dialog.get().map(|d| {
            let body = match d {
                Dialog::Add => view! { <UserForm user=None dialog reload/> }.into_any(),
                Dialog::Edit(u) => view! { <UserForm user=Some(u) dialog reload/> }.into_any(),
                Dialog::Password(u) => {
                    let own = u.login_id == my_login();
                    view! { <PasswordForm user=u own dialog reload/> }.into_any()
                }
                Dialog::Delete(u) => {
                    let id = u.user_id;
                    view! {
                        <h2>{tr(Key::UsersDelete)} " " {u.login_id.clone()}</h2>
                        <p>{u.name.clone()}</p>
                        <p class="hint">{tr(Key::UsersDeleteHint)}</p>
                        {move || delete_error.get().map(|e| view! { <ErrorBanner error=e/> })}
                        <div class="dialog-buttons">
                            <button type="button" class="primary danger" data-testid="confirm-delete" on:click=move |_| confirm_delete(id)>{tr(Key::UsersDelete)}</button>
                            <button type="button" on:click=move |_| dialog.set(None)>{tr(Key::Cancel)}</button>
                        </div>
                    }
                    .into_any()
                }
            };
            view! {
                <div class="dialog-backdrop">
                    <div class="dialog" role="dialog" aria-modal="true" data-testid="dialog">{body}</div>
                </div>
            }
        })
    };

    view! {
        <h1>{tr(Key::UsersTitle)}</h1>
        <p class="hint">{tr(Key::UsersIntro)}</p>
        <div class="toolbar">
            <button type="button" class="primary" data-testid="add-user" on:click=move |_| dialog.set(Some(Dialog::Add))>{tr(Key::UsersAdd)}</button>
            <label>{tr(Key::UsersSearch)} " "
                <input type="search" data-testid="user-search" prop:value=move || search.get()
                    on:input=move |ev| search.set(event_target_value(&ev))/></label>
            <label>{tr(Key::UsersRole)} " "
                <select data-testid="role-filter" on:change=move |ev| role_filter.set(Role::parse(&event_target_value(&ev)))>
                    <option value="">{tr(Key::UsersAll)}</option>
                    {[Role::Master, Role::Admin, Role::General].into_iter().map(|r| view! {
                        <option value=r.as_str()>{tr(role_key(r))}</option>
                    }).collect_view()}
                </select></label>
            <label>{tr(Key::UsersState)} " "
                <select data-testid="state-filter" on:change=move |ev| state_filter.set(event_target_value(&ev))>
                    <option value="">{tr(Key::UsersAll)}</option>
                    <option value="active">{tr(Key::UsersActive)}</option>
                    <option value="locked">{tr(Key::UsersLocked)}</option>
                </select></label>
            <label>{tr(Key::UsersSort)} " "
                <select data-testid="sort" on:change=move |ev| sort.set(event_target_value(&ev))>
                    <option value="login">{tr(Key::FieldLoginId)}</option>
                    <option value="name">{tr(Key::FieldName)}</option>
                    <option value="role">{tr(Key::UsersRole)}</option>
                    <option value="expiry">{tr(Key::CertNotAfter)}</option>
                </select></label>
            <span class="export">{tr(Key::UsersExport)} ": "
                <a href="/users/export.csv?encoding=utf8" rel="external" download="certdesk-users.csv" data-testid="export-utf8">"UTF-8 (BOM)"</a> " · "
                <a href="/users/export.csv?encoding=sjis" rel="external" download="certdesk-users-sjis.csv" data-testid="export-sjis">"Shift_JIS"</a> " · "
                <a href="/users/export.xlsx" rel="external" download="certdesk-users.xlsx" data-testid="export-xlsx">"Excel (.xlsx)"</a>
            </span>
        </div>
        {move || action_error.get().map(|e| view! { <ErrorBanner error=e/> })}
        <Suspense fallback=move || view! { <p>{tr(Key::Loading)}</p> }>
            {move || users.get().map(|r| match r {
                Ok(all) => {
                    let total = all.len();
                    let list = visible(all);
                    let shown = list.len();
                    view! {
                        <p class="hint" data-testid="user-count">{move || tr(Key::UsersShown)()} ": " {shown} " / " {total}
                            " · " {move || tr(Key::UsersLimit)()}</p>
                        <table class="table" data-testid="users-table">
                            <thead><tr>
                                <th scope="col">{tr(Key::FieldLoginId)}</th>
                                <th scope="col">{tr(Key::FieldName)}</th>
                                <th scope="col">{tr(Key::FieldEmail)}</th>
                                <th scope="col">{tr(Key::UsersRole)}</th>
                                <th scope="col">{tr(Key::UsersState)}</th>
                                <th scope="col">{tr(Key::CertState)}</th>
                                <th scope="col">{tr(Key::CertActions)}</th>
                            </tr></thead>
                            <tbody>{list.into_iter().map(row_view).collect_view()}</tbody>
                        </table>
                    }
                    .into_any()
                }
                Err(e) => view! { <ErrorBanner error=e/> }.into_any(),
            })}
        </Suspense>
        <ImportPanel reload/>
        {dialog_view}
    }
}
