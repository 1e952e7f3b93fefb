//! Planning an import: a [`ParsedFile`] against the users already stored.

use super::read::{sort_problems, to_u32, ParsedFile, RowProblem};
use crate::error::AuthError;
use crate::error::UserError;
use crate::ids::{Email, LoginId, PersonName};
use crate::lang::Message;
use crate::role::Role;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// How an import treats users that already exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ImportMode {
    /// Add new users; a row for an existing user must equal what is stored.
    AddOnly,
    /// Add new users and update existing ones.
    AddAndUpdate,
}

impl ImportMode {
    pub fn as_str(self) -> &'static str {
        match self {
            ImportMode::AddOnly => "add_only",
            ImportMode::AddAndUpdate => "add_and_update",
        }
    }

    /// Reads a value written by [`ImportMode::as_str`].
    pub fn parse(s: &str) -> Option<ImportMode> {
        match s.trim() {
            "add_only" => Some(ImportMode::AddOnly),
            "add_and_update" => Some(ImportMode::AddAndUpdate),
            _ => None,
        }
    }
}

/// A live (not deleted) user, as the planner compares it: the login ID (its stored spelling
/// is what a plan names) and role as parsed, the name and e-mail as stored (they are only
/// compared with the file's, never written from here).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExistingUser {
    pub login_id: LoginId,
    pub name: String,
    pub email: String,
    pub role: Role,
}

/// What an import does with one row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum RowAction {
    /// A new user.
    Add,
    /// An existing user whose fields change; `changed` lists `"name"`, `"email"`, `"role"`
    /// (in that order). Strings rather than `&'static str` so that the plan deserialises.
    Update { changed: Vec<String> },
    /// An existing user equal to the row.
    Unchanged,
}

/// A row the import would write (or leave), with the values as the file's row parsed them.
/// For existing users `login_id` is the stored spelling (a change of case alone is not a
/// change).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlannedRow {
    pub row: u32,
    pub login_id: LoginId,
    pub name: PersonName,
    pub email: Email,
    pub role: Role,
    pub action: RowAction,
}

/// What importing a file would do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportPlan {
    /// The rows without problems, in file order.
    pub rows: Vec<PlannedRow>,
    /// The file's problems and the plan's, sorted by row, then column.
    pub problems: Vec<RowProblem>,
    pub adds: u32,
    pub updates: u32,
    pub unchanged: u32,
}

impl ImportPlan {
    /// No problem at all: only then may the plan be written.
    pub fn is_clean(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Compares the file's rows with the live users. Rows are matched by login ID without regard
/// to case. A row equal to the stored user is unchanged in both modes (so importing a file
/// twice changes nothing); a different one is refused in add-only mode (`E-USER-003`) and an
/// update otherwise. The master role is neither given nor taken away by import (`E-USER-005`,
/// `E-USER-006`), only a master changes a master's name or e-mail (`by` is the importer's
/// role; the same rule and code as editing on the Users page, `E-AUTH-004`), and adds beyond
/// `max_other_users` non-master users are refused, in row order (`E-USER-002`).
pub fn plan_import(
    file: &ParsedFile,
    existing: &[ExistingUser],
    mode: ImportMode,
    max_other_users: u32,
    by: Role,
) -> ImportPlan {
    let stored: HashMap<String, &ExistingUser> =
        existing.iter().map(|u| (u.login_id.key(), u)).collect();
    let mut others = to_u32(existing.iter().filter(|u| u.role != Role::Master).count());
    let mut plan = ImportPlan {
        rows: Vec::new(),
        problems: file.problems.clone(),
        adds: 0,
        updates: 0,
        unchanged: 0,
    };
    let columns = &file.columns;
    for row in &file.rows {
        let role = row.role;
        let id = &row.login_id;
        let master_not_given = || {
            RowProblem::at(
                row.row,
                &columns.role,
                UserError::RoleNotAllowed {
                    role: Role::Master.as_str().to_string(),
                }
                .code(),
                Message::new(
                    "マスターユーザ(master)の権限はインポートでは付けられません。admin か general にしてください。",
                    "The master role cannot be given by import. Use admin or general.",
                ),
            )
        };
        let action = match stored.get(&id.key()) {
            None if role == Role::Master => {
                plan.problems.push(master_not_given());
                continue;
            }
            None => {
                if others >= max_other_users {
                    plan.problems.push(RowProblem::whole_row(
                        row.row,
                        UserError::Limit {
                            max: max_other_users,
                        }
                        .code(),
                        Message::new(
                            format!(
                                "マスターユーザ以外の利用者は{max_other_users}名までのため、この行は追加できません。\
                                 不要な利用者を削除するか、ファイルの行を減らしてください。"
                            ),
                            format!(
                                "At most {max_other_users} users besides the master, so this row \
                                 cannot be added. Delete users who no longer need access, or \
                                 remove rows from the file."
                            ),
                        ),
                    ));
                    continue;
                }
                others += 1;
                (id.clone(), RowAction::Add)
            }
            Some(user) => {
                if user.role == Role::Master && role != Role::Master {
                    plan.problems.push(RowProblem::at(
                        row.row,
                        &columns.role,
                        UserError::MasterRoleKept {
                            login_id: user.login_id.to_string(),
                        }
                        .code(),
                        Message::new(
                            format!(
                                "「{}」はマスターユーザです。マスターユーザの権限はインポートでは変えられません。\
                                 ファイルの権限を master に戻し、権限の変更は利用者ページで行ってください。",
                                user.login_id
                            ),
                            format!(
                                "'{}' is the master; a master's role cannot be changed by import. \
                                 Put master back in the file and change roles on the Users page.",
                                user.login_id
                            ),
                        ),
                    ));
                    continue;
                }
                if user.role != Role::Master && role == Role::Master {
                    plan.problems.push(master_not_given());
                    continue;
                }
                let mut changed = Vec::new();
                if user.name != row.name.as_str() {
                    changed.push("name".to_string());
                }
                if user.email != row.email.as_str() {
                    changed.push("email".to_string());
                }
                if user.role != role {
                    changed.push("role".to_string());
                }
                if changed.is_empty() {
                    (user.login_id.clone(), RowAction::Unchanged)
                } else if user.role == Role::Master && by != Role::Master {
                    let column = if changed[0] == "name" {
                        &columns.name
                    } else {
                        &columns.email
                    };
                    plan.problems.push(RowProblem::at(
                        row.row,
                        column,
                        AuthError::Forbidden.code(),
                        Message::new(
                            format!(
                                "「{}」はマスターユーザです。マスターユーザの氏名・メールアドレスを変えられるのはマスターユーザだけです。\
                                 この行をファイルに保存されている内容に戻すか、マスターユーザに変更を依頼してください。",
                                user.login_id
                            ),
                            format!(
                                "'{}' is a master; only a master may change a master's name or e-mail. \
                                 Put this row back as stored, or ask a master to make the change.",
                                user.login_id
                            ),
                        ),
                    ));
                    continue;
                } else if mode == ImportMode::AddOnly {
                    plan.problems.push(RowProblem::at(
                        row.row,
                        &columns.login_id,
                        UserError::LoginIdTaken {
                            login_id: user.login_id.to_string(),
                        }
                        .code(),
                        Message::new(
                            format!(
                                "ログインID「{}」の利用者は既にいて、氏名・メールアドレス・権限のどれかが違います。\
                                 変更するには「追加と更新」を選んでください。",
                                user.login_id
                            ),
                            format!(
                                "A user with login ID '{}' already exists with other data. To \
                                 change it, choose \"add and update\".",
                                user.login_id
                            ),
                        ),
                    ));
                    continue;
                } else {
                    (user.login_id.clone(), RowAction::Update { changed })
                }
            }
        };
        let (login_id, action) = action;
        match action {
            RowAction::Add => plan.adds += 1,
            RowAction::Update { .. } => plan.updates += 1,
            RowAction::Unchanged => plan.unchanged += 1,
        }
        plan.rows.push(PlannedRow {
            row: row.row,
            login_id,
            name: row.name.clone(),
            email: row.email.clone(),
            role,
            action,
        });
    }
    sort_problems(&mut plan.problems);
    plan
}
