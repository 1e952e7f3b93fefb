//! The organisation and the first-run setup that creates it with its master user.

use crate::auth::{self, CurrentUser, SessionToken};
use crate::error::ServiceError;
use crate::store::audit::{self, Actor, Outcome};
use crate::store::db::ts;
use crate::{auth::password, Backend};
use certdesk_domain::AuditAction;
use certdesk_domain::SetupError;
use certdesk_domain::{
    BankCode, Email, GroupId, LoginId, OrganisationName, Password, PersonName, Role,
};
use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;

/// What the setup page (or `certdesk setup`) asks for, as typed. Its `Debug` shows the
/// passwords as `***`.
#[derive(Clone)]
pub struct SetupInput {
    pub org_name: String,
    pub group_id: String,
    pub bank_code: String,
    pub login_id: String,
    pub name: String,
    pub email: String,
    pub password: String,
    pub password_confirm: String,
}

impl std::fmt::Debug for SetupInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SetupInput")
            .field("org_name", &self.org_name)
            .field("group_id", &self.group_id)
            .field("bank_code", &self.bank_code)
            .field("login_id", &self.login_id)
            .field("name", &self.name)
            .field("email", &self.email)
            .field("password", &"***")
            .field("password_confirm", &"***")
            .finish()
    }
}

/// The same, parsed: every field follows its rule.
struct ValidSetup {
    org_name: OrganisationName,
    group_id: GroupId,
    bank_code: BankCode,
    login_id: LoginId,
    name: PersonName,
    email: Email,
    password: Password,
}

impl SetupInput {
    /// Checks the fields in the order the form shows them; the first error is returned.
    fn parse(&self) -> Result<ValidSetup, ServiceError> {
        Ok(ValidSetup {
            org_name: OrganisationName::parse(&self.org_name)?,
            group_id: GroupId::parse(&self.group_id)?,
            bank_code: BankCode::parse(&self.bank_code)?,
            login_id: LoginId::parse(&self.login_id)?,
            name: PersonName::parse(&self.name)?,
            email: Email::parse(&self.email)?,
            password: Password::parse_new(&self.password, &self.password_confirm)?,
        })
    }
}

/// The organisation as the page header shows it.
#[derive(Debug, Clone, Serialize)]
pub struct Organisation {
    pub name: String,
    pub group_id: String,
    pub bank_code: String,
}

pub(crate) fn exists(conn: &Connection) -> Result<bool, ServiceError> {
    Ok(
        conn.query_row("SELECT EXISTS (SELECT 1 FROM organisation)", [], |r| {
            r.get(0)
        })?,
    )
}

impl Backend {
    /// First run: creates the organisation and its master user, audits it, and signs the
    /// master in (returns the new session). Refused once an organisation exists.
    pub async fn set_up(
        &self,
        input: SetupInput,
        actor: Actor,
    ) -> Result<(SessionToken, CurrentUser), ServiceError> {
        if !self.needs_setup() {
            return Err(SetupError::AlreadySetUp.into());
        }
        let valid = input.parse()?;
        let pw = valid.password.clone();
        let hash = self
            .hashers()
            .run(move |permit| password::hash(pw.expose(), permit))
            .await?;
        let now = self.clock().now();
        let result = self
            .db()
            .run(move |conn| {
                let tx = conn.transaction()?;
                if exists(&tx)? {
                    return Err(SetupError::AlreadySetUp.into());
                }
                tx.execute(
                    "INSERT INTO organisation (id, name, group_id, bank_code, created_at)
                     VALUES (1, ?1, ?2, ?3, ?4)",
                    params![
                        valid.org_name.as_str(),
                        valid.group_id.as_str(),
                        valid.bank_code.as_str(),
                        ts(now)
                    ],
                )?;
                tx.execute(
                    "INSERT INTO users (login_id, login_key, name, email, role, password_hash,
                                        created_at, updated_at)
                     VALUES (?1, ?2, ?3, ?4, 'master', ?5, ?6, ?6)",
                    params![
                        valid.login_id.as_str(),
                        valid.login_id.key(),
                        valid.name.as_str(),
                        valid.email.as_str(),
                        hash.as_stored(),
                        ts(now)
                    ],
                )?;
                let user = CurrentUser {
                    id: tx.last_insert_rowid(),
                    login_id: valid.login_id.as_str().to_string(),
                    name: valid.name.as_str().to_string(),
                    role: Role::Master,
                };
                tx.execute(
                    "DELETE FROM unknown_login_failures WHERE login_key = ?1",
                    [valid.login_id.key()],
                )?;
                audit::record(
                    &tx,
                    now,
                    &actor,
                    AuditAction::Setup,
                    Some(valid.org_name.as_str()),
                    Outcome::Success,
                    serde_json::json!({
                        "group_id": valid.group_id.as_str(),
                        "bank_code": valid.bank_code.as_str(),
                        "master": valid.login_id.as_str(),
                    }),
                )?;
                let token = auth::create_session(&tx, user.id, now)?;
                tx.commit()?;
                Ok((token, user))
            })
            .await;
        if result.is_ok() || matches!(result, Err(ServiceError::Setup(SetupError::AlreadySetUp))) {
            self.mark_set_up();
        }
        let (token, user) = result?;
        // The CA's subject needs the organisation; make it now (a failure is retried at start).
        if let Err(e) = self.ensure_ca(user.actor()).await {
            tracing::error!(error.code = e.code(), error.detail = %e, "creating the CA after setup failed");
        }
        Ok((token, user))
    }

    /// The organisation, once set up.
    pub async fn organisation(&self) -> Result<Option<Organisation>, ServiceError> {
        self.db()
            .run(|conn| {
                Ok(conn
                    .query_row(
                        "SELECT name, group_id, bank_code FROM organisation WHERE id = 1",
                        [],
                        |r| {
                            Ok(Organisation {
                                name: r.get(0)?,
                                group_id: r.get(1)?,
                                bank_code: r.get(2)?,
                            })
                        },
                    )
                    .optional()?)
            })
            .await
    }
}
