//! Users from and to CSV files: preview, all-or-nothing import, export.
//!
//! The file is read and checked by `certdesk_domain::userfile` (no I/O there); this module
//! holds what touches the database. An import is two calls with the same bytes: the preview
//! writes nothing; the commit reads the users again *inside its transaction*, recomputes the
//! plan, and writes only if the file has no problem and both the file (SHA-256) and the plan
//! are what the person saw. Importing the same file twice changes nothing the second time,
//! because rows equal to what is stored are "unchanged".

use crate::error::ServiceError;
use crate::store::audit::{self, Actor, Outcome};
use crate::store::db::ts;
use crate::users::{acts_as_master, insert_user, stored_role, MAX_OTHER_USERS};
use crate::Backend;
use certdesk_domain::lifecycle::CertificateState;
use certdesk_domain::userfile::{
    plan_import, write_users_csv, ExistingUser, ExportEncoding, ExportRow, ImportMode, ImportPlan,
    RowAction, EXPORT_HEADER,
};
use certdesk_domain::views::{date_part, ImportPreview};
use certdesk_domain::AuditAction;
use certdesk_domain::UserError;
use certdesk_domain::{LoginId, Role};
use rusqlite::{params, Connection};
use sha2::{Digest, Sha256};

/// The live users, as the planner compares them. Every stored login ID was parsed before it
/// was stored, so one that no longer parses is a broken database, not a problem of the file.
fn existing_users(conn: &Connection) -> Result<Vec<ExistingUser>, ServiceError> {
    let mut stmt = conn.prepare(
        "SELECT login_id, name, email, role FROM users WHERE deleted_at IS NULL ORDER BY id",
    )?;
    let rows = stmt
        .query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                stored_role(r, 3)?,
            ))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    rows.into_iter()
        .map(|(login_id, name, email, role)| {
            Ok(ExistingUser {
                login_id: LoginId::parse(&login_id).map_err(|_| {
                    ServiceError::Internal(format!("stored login ID {login_id:?} breaks the rule"))
                })?,
                name,
                email,
                role,
            })
        })
        .collect()
}

/// Reads the file and plans it against `conn`'s users, as `actor` may import it (a row that
/// changes a master is a problem unless `actor` acts as a master).
fn preview_on(
    conn: &Connection,
    file_name: &str,
    bytes: &[u8],
    sheet: Option<&str>,
    mode: ImportMode,
    actor: &Actor,
) -> Result<ImportPreview, ServiceError> {
    let parsed = super::workbook::read_upload(file_name, bytes, sheet)?;
    let existing = existing_users(conn)?;
    let by = if acts_as_master(conn, actor)? {
        Role::Master
    } else {
        Role::Admin
    };
    let plan = plan_import(&parsed, &existing, mode, MAX_OTHER_USERS, by);
    Ok(ImportPreview {
        sha256: hex::encode(Sha256::digest(bytes)),
        file_name: file_name.to_string(),
        bytes: bytes.len(),
        encoding: parsed.encoding,
        separator: parsed.separator,
        records: parsed.records,
        ignored_columns: parsed.ignored_columns,
        sheet: parsed.sheet,
        folded: parsed.folded,
        mode,
        plan,
        committed: false,
    })
}

/// What the person confirmed: rows to add, to update, unchanged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlanCounts {
    pub adds: u32,
    pub updates: u32,
    pub unchanged: u32,
}

impl PlanCounts {
    pub fn of(plan: &ImportPlan) -> PlanCounts {
        PlanCounts {
            adds: plan.adds,
            updates: plan.updates,
            unchanged: plan.unchanged,
        }
    }
}

impl Backend {
    /// What importing this file would do, as `actor` may import it. Writes nothing.
    pub async fn preview_user_import(
        &self,
        file_name: String,
        bytes: Vec<u8>,
        mode: ImportMode,
        actor: Actor,
    ) -> Result<ImportPreview, ServiceError> {
        self.preview_user_import_sheet(file_name, bytes, None, mode, actor)
            .await
    }

    /// [`Backend::preview_user_import`] of a workbook's sheet (`None`: the first sheet).
    pub async fn preview_user_import_sheet(
        &self,
        file_name: String,
        bytes: Vec<u8>,
        sheet: Option<String>,
        mode: ImportMode,
        actor: Actor,
    ) -> Result<ImportPreview, ServiceError> {
        self.db()
            .run(move |conn| preview_on(conn, &file_name, &bytes, sheet.as_deref(), mode, &actor))
            .await
    }

    /// Imports the file in one transaction: all rows or none. `expected` is the preview the
    /// person confirmed; if the file's hash or the plan differ now, nothing is written
    /// (`E-CSV-021`). A file with any problem is refused (`E-CSV-020`).
    pub async fn commit_user_import(
        &self,
        file_name: String,
        bytes: Vec<u8>,
        mode: ImportMode,
        expected_sha256: String,
        expected: Option<PlanCounts>,
        actor: Actor,
    ) -> Result<ImportPreview, ServiceError> {
        self.commit_user_import_sheet(
            file_name,
            bytes,
            None,
            mode,
            expected_sha256,
            expected,
            actor,
        )
        .await
    }

    /// [`Backend::commit_user_import`] of a workbook's sheet (`None`: the first sheet).
    #[allow(clippy::too_many_arguments)]
    pub async fn commit_user_import_sheet(
        &self,
        file_name: String,
        bytes: Vec<u8>,
        sheet: Option<String>,
        mode: ImportMode,
        expected_sha256: String,
        expected: Option<PlanCounts>,
        actor: Actor,
    ) -> Result<ImportPreview, ServiceError> {
        let now = self.clock().now();
        self.db()
            .run(move |conn| {
                let tx = conn.transaction()?;
                let mut preview =
                    preview_on(&tx, &file_name, &bytes, sheet.as_deref(), mode, &actor)?;
                if !preview.sha256.eq_ignore_ascii_case(expected_sha256.trim()) {
                    return Err(ServiceError::ImportStale);
                }
                if !preview.plan.problems.is_empty() {
                    return Err(ServiceError::ImportHasProblems {
                        problems: preview.plan.problems.len(),
                    });
                }
                if let Some(expected) = expected {
                    if expected != PlanCounts::of(&preview.plan) {
                        return Err(ServiceError::ImportStale);
                    }
                }
                let via = format!("import:{}", &preview.sha256[..12]);
                for row in &preview.plan.rows {
                    let login_id = &row.login_id;
                    match &row.action {
                        RowAction::Unchanged => {}
                        RowAction::Add => {
                            if row.role == Role::Master && !acts_as_master(&tx, &actor)? {
                                return Err(UserError::RoleNotAllowed {
                                    role: row.role.as_str().to_string(),
                                }.into());
                            }
                            insert_user(
                                &tx, now, login_id, &row.name, &row.email, row.role, None, &actor,
                                &via,
                            )?;
                        }
                        RowAction::Update { changed } => {
                            tx.execute(
                                "UPDATE users SET name = ?1, email = ?2, role = ?3, updated_at = ?4
                                 WHERE login_key = ?5 AND deleted_at IS NULL",
                                params![
                                    row.name.as_str(),
                                    row.email.as_str(),
                                    row.role.as_str(),
                                    ts(now),
                                    login_id.key()
                                ],
                            )?;
                            if !row.role.may_sign_in_to_console() {
                                tx.execute(
                                    "DELETE FROM sessions WHERE user_id =
                                     (SELECT id FROM users WHERE login_key = ?1 AND deleted_at IS NULL)",
                                    [login_id.key()],
                                )?;
                            }
                            audit::record(
                                &tx,
                                now,
                                &actor,
                                AuditAction::UserUpdate,
                                Some(login_id.as_str()),
                                Outcome::Success,
                                serde_json::json!({"changed": changed, "role_to": row.role.as_str(), "via": via}),
                            )?;
                        }
                    }
                }
                audit::record(
                    &tx,
                    now,
                    &actor,
                    AuditAction::UserImport,
                    Some(&preview.file_name),
                    Outcome::Success,
                    serde_json::json!({
                        "sha256": preview.sha256,
                        "encoding": preview.encoding.label(),
                        "sheet": preview.sheet.as_ref().map(|s| s.name.clone()),
                        "folded": preview.folded.len(),
                        "mode": mode.as_str(),
                        "rows": preview.records,
                        "added": preview.plan.adds,
                        "updated": preview.plan.updates,
                        "unchanged": preview.plan.unchanged,
                    }),
                )?;
                tx.commit()?;
                preview.committed = true;
                Ok(preview)
            })
            .await
    }

    /// All live users with their current certificate, as a CSV file Excel opens directly.
    pub async fn export_users_csv(
        &self,
        encoding: ExportEncoding,
    ) -> Result<Vec<u8>, ServiceError> {
        Ok(write_users_csv(&self.export_rows().await?, encoding)?)
    }

    /// The same as [`Backend::export_users_csv`], as an `.xlsx` workbook of text cells.
    pub async fn export_users_xlsx(&self) -> Result<Vec<u8>, ServiceError> {
        let rows: Vec<Vec<String>> = self
            .export_rows()
            .await?
            .into_iter()
            .map(|r| {
                vec![
                    r.login_id,
                    r.name,
                    r.email,
                    r.role.as_str().to_string(),
                    r.certificate_state,
                    r.serial,
                    r.expires_on,
                ]
            })
            .collect();
        super::xlsx::write_table("users", &EXPORT_HEADER, &rows)
    }

    async fn export_rows(&self) -> Result<Vec<ExportRow>, ServiceError> {
        let overview = self.certificate_overview().await?;
        let rows: Vec<ExportRow> = overview
            .into_iter()
            .map(|u| {
                let (state, serial, expires_on) = match &u.current {
                    Some(c) => (
                        match c.state {
                            CertificateState::Valid => "valid",
                            CertificateState::Revoked => "revoked",
                            CertificateState::Expired => "expired",
                            CertificateState::Superseded => "superseded",
                        }
                        .to_string(),
                        c.serial.clone(),
                        date_part(&c.not_after).to_string(),
                    ),
                    None => ("none".to_string(), String::new(), String::new()),
                };
                ExportRow {
                    login_id: u.login_id,
                    name: u.name,
                    email: u.email,
                    role: u.role,
                    certificate_state: state,
                    serial,
                    expires_on,
                }
            })
            .collect();
        Ok(rows)
    }
}
