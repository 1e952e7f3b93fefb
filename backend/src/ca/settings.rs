//! The external CA's settings (cfssl: URL, profile, HMAC key and proxy password sealed,
//! timeouts, proxy, CA bundle, key source), the client made from them, and the Settings page's
//! "test connection".

use crate::ca::cfssl::{CfsslClient, CfsslConfig, ProxyConfig};
use crate::error::ServiceError;
use crate::store::audit::{self, Actor, Outcome};
use crate::store::db::ts;
use crate::store::secrets::Purpose;
use crate::Backend;
use certdesk_domain::authority::CertificateAuthority;
use certdesk_domain::external_ca::{
    parse_auth_key, CaBackendKind, CaBackendView, CaCheckStep, CaSettingsError, CfsslSettings,
    KeySource, RetryPolicy,
};
use certdesk_domain::AuditAction;
use certdesk_domain::Message;
use rusqlite::{params, OptionalExtension};
use std::time::Duration;

/// What the Settings page saves. An empty `auth_key` or `proxy_password` keeps the stored
/// one, but only while its destination stays (see [`kept_secrets`]).
#[derive(Clone, Default)]
pub struct CaBackendInput {
    pub kind: CaBackendKind,
    pub cfssl: CfsslSettings,
    pub auth_key: String,
    pub proxy_password: String,
}

/// The secrets as `***` (or empty when none was typed), so that a logged input shows none.
impl std::fmt::Debug for CaBackendInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let redacted = |s: &str| if s.is_empty() { "" } else { "***" };
        f.debug_struct("CaBackendInput")
            .field("kind", &self.kind)
            .field("cfssl", &self.cfssl)
            .field("auth_key", &redacted(&self.auth_key))
            .field("proxy_password", &redacted(&self.proxy_password))
            .finish()
    }
}

/// Which stored secrets may stay when a secret field is left empty: a secret belongs to the
/// place it is sent to, so that whoever changes the place (a stolen master session, say)
/// must know the secret too. The HMAC key goes with the CA URL; the proxy password with the
/// proxy URL and user. Returns `(keep auth key, keep proxy password)`.
fn kept_secrets(stored: &CfsslSettings, new: &CfsslSettings) -> (bool, bool) {
    let same = |a: &str, b: &str| a.trim() == b.trim();
    (
        same(&stored.url, &new.url),
        same(&stored.proxy_url, &new.proxy_url) && same(&stored.proxy_user, &new.proxy_user),
    )
}

pub(crate) struct Stored {
    pub view: CaBackendView,
    pub auth_key_sealed: Option<Vec<u8>>,
    pub proxy_password_sealed: Option<Vec<u8>>,
    /// Whether the CA's answers carried the serial certdesk proposed (`None`: not seen yet).
    pub serials_honoured: Option<bool>,
}

pub(crate) fn load_stored(conn: &rusqlite::Connection) -> Result<Stored, ServiceError> {
    let row = conn
        .query_row(
            "SELECT kind, url, profile, auth_key_sealed, connect_timeout_s, total_timeout_s, proxy_url, proxy_user,
                    proxy_password_sealed, ca_bundle_pem, key_source, serials_honoured FROM ca_backend WHERE id = 1",
            [],
            |r| {
                Ok(Stored {
                    view: CaBackendView {
                        kind: CaBackendKind::parse(&r.get::<_, String>(0)?).unwrap_or_default(),
                        cfssl: CfsslSettings {
                            url: r.get(1)?,
                            profile: r.get(2)?,
                            connect_timeout_s: r.get(4)?,
                            total_timeout_s: r.get(5)?,
                            proxy_url: r.get(6)?,
                            proxy_user: r.get(7)?,
                            ca_bundle_pem: r.get(9)?,
                            key_source: KeySource::parse(&r.get::<_, String>(10)?).unwrap_or_default(),
                        },
                        auth_key_set: r.get::<_, Option<Vec<u8>>>(3)?.is_some(),
                        proxy_password_set: r.get::<_, Option<Vec<u8>>>(8)?.is_some(),
                    },
                    auth_key_sealed: r.get(3)?,
                    proxy_password_sealed: r.get(8)?,
                    serials_honoured: r.get(11)?,
                })
            },
        )
        .optional()?;
    Ok(row.unwrap_or_else(|| Stored {
        view: CaBackendView {
            cfssl: CfsslSettings {
                connect_timeout_s: 5,
                total_timeout_s: 30,
                ..CfsslSettings::default()
            },
            ..CaBackendView::default()
        },
        auth_key_sealed: None,
        proxy_password_sealed: None,
        serials_honoured: None,
    }))
}

/// `sent_to` of a request the embedded CA signed: it never left the process.
pub(crate) const EMBEDDED: &str = "embedded";

/// Which CA a request went to: what `serials_honoured` was learnt for.
pub(crate) fn sent_to(view: &CaBackendView) -> String {
    format!("{} {}", view.cfssl.url.trim(), view.cfssl.profile.trim())
}

impl Backend {
    /// The CA settings for the Settings page (secrets only as "set").
    pub async fn ca_backend(&self) -> Result<CaBackendView, ServiceError> {
        self.db().run(|conn| Ok(load_stored(conn)?.view)).await
    }

    /// Saves the CA choice and the external CA's settings; audited without secrets. A stored
    /// secret whose destination changed is dropped unless typed again (audited as
    /// `secret_dropped`, naming which).
    pub async fn update_ca_backend(
        &self,
        input: CaBackendInput,
        actor: Actor,
    ) -> Result<(), ServiceError> {
        if input.kind == CaBackendKind::Cfssl {
            input.cfssl.validate()?;
        }
        let auth_key = match input.auth_key.trim() {
            "" => None,
            text => Some(parse_auth_key(text)?),
        };
        let now = self.clock().now();
        let master = self.master_key();
        self.db()
            .run(move |conn| {
                let tx = conn.transaction()?;
                let stored = load_stored(&tx)?;
                let (keep_auth_key, keep_proxy_password) = kept_secrets(&stored.view.cfssl, &input.cfssl);
                let mut dropped = Vec::new();
                let auth_key_sealed = match &auth_key {
                    Some(k) => Some(master.seal(Purpose::CaKey, "cfssl auth key", hex::encode(k).as_bytes())?),
                    None if keep_auth_key => stored.auth_key_sealed,
                    None => {
                        if stored.auth_key_sealed.is_some() {
                            dropped.push("auth_key");
                        }
                        None
                    }
                };
                let proxy_password_sealed = match input.proxy_password.as_str() {
                    "" if keep_proxy_password => stored.proxy_password_sealed,
                    "" => {
                        if stored.proxy_password_sealed.is_some() {
                            dropped.push("proxy_password");
                        }
                        None
                    }
                    p => Some(master.seal(Purpose::CaKey, "ca proxy password", p.as_bytes())?),
                };
                let c = &input.cfssl;
                tx.execute(
                    "INSERT INTO ca_backend (id, kind, url, profile, auth_key_sealed, connect_timeout_s, total_timeout_s,
                                             proxy_url, proxy_user, proxy_password_sealed, ca_bundle_pem, updated_at, key_source)
                     VALUES (1, ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)
                     ON CONFLICT (id) DO UPDATE SET kind = ?1, url = ?2, profile = ?3, auth_key_sealed = ?4,
                        connect_timeout_s = ?5, total_timeout_s = ?6, proxy_url = ?7, proxy_user = ?8,
                        proxy_password_sealed = ?9, ca_bundle_pem = ?10, updated_at = ?11, key_source = ?12,
                        serials_honoured = CASE WHEN url = ?2 AND profile = ?3 THEN serials_honoured END",
                    params![input.kind.as_str(), c.url.trim(), c.profile.trim(), auth_key_sealed, c.connect_timeout_s,
                        c.total_timeout_s, c.proxy_url.trim(), c.proxy_user.trim(), proxy_password_sealed,
                        c.ca_bundle_pem.trim(), ts(now), c.key_source.as_str()],
                )?;
                audit::record(&tx, now, &actor, AuditAction::CaBackendUpdate, Some(input.kind.as_str()), Outcome::Success,
                    serde_json::json!({"kind": input.kind.as_str(), "url": c.url.trim(), "profile": c.profile.trim(),
                        "auth_key_changed": auth_key.is_some(), "proxy_url": c.proxy_url.trim(),
                        "proxy_password_changed": !input.proxy_password.is_empty(), "key_source": c.key_source.as_str(),
                        "connect_timeout_s": c.connect_timeout_s, "total_timeout_s": c.total_timeout_s,
                        "secrets_dropped": dropped}))?;
                if !dropped.is_empty() {
                    audit::record(&tx, now, &actor, AuditAction::SecretDropped, Some(input.kind.as_str()), Outcome::Success,
                        serde_json::json!({"dropped": dropped, "reason": "destination changed",
                            "url": c.url.trim(), "proxy_url": c.proxy_url.trim(), "proxy_user": c.proxy_user.trim()}))?;
                }
                tx.commit()?;
                Ok(())
            })
            .await
    }

    /// The external CA's client when the organisation issues with cfssl, else `None`.
    pub async fn external_ca(&self) -> Result<Option<CfsslClient>, ServiceError> {
        let stored = self.db().run(|conn| load_stored(conn)).await?;
        if stored.view.kind != CaBackendKind::Cfssl {
            return Ok(None);
        }
        Ok(Some(self.cfssl_client(stored)?))
    }

    /// The cfssl client from the stored settings whichever CA is chosen now (certificates it
    /// issued are revoked there after a switch back); E-CA-020 if no URL was ever saved.
    pub async fn stored_cfssl_client(&self) -> Result<CfsslClient, ServiceError> {
        let stored = self.db().run(|conn| load_stored(conn)).await?;
        if stored.view.cfssl.url.trim().is_empty() {
            return Err(CaSettingsError::Url.into());
        }
        self.cfssl_client(stored)
    }

    fn cfssl_client(&self, stored: Stored) -> Result<CfsslClient, ServiceError> {
        let master = self.master_key();
        let c = stored.view.cfssl;
        let auth_key = match stored.auth_key_sealed {
            Some(sealed) => {
                let text = master.open(Purpose::CaKey, "cfssl auth key", &sealed)?;
                Some(parse_auth_key(&String::from_utf8_lossy(&text))?)
            }
            None => None,
        };
        let proxy = match c.proxy_url.trim() {
            "" => None,
            url => Some(ProxyConfig {
                url: url.to_string(),
                user: c.proxy_user.clone(),
                password: match stored.proxy_password_sealed {
                    Some(sealed) => String::from_utf8_lossy(&master.open(
                        Purpose::CaKey,
                        "ca proxy password",
                        &sealed,
                    )?)
                    .into_owned(),
                    None => String::new(),
                },
            }),
        };
        Ok(CfsslClient::new(CfsslConfig {
            url: c.url,
            profile: c.profile,
            auth_key,
            connect_timeout: Duration::from_secs(u64::from(c.connect_timeout_s)),
            total_timeout: Duration::from_secs(u64::from(c.total_timeout_s)),
            proxy,
            ca_bundle_pem: Some(c.ca_bundle_pem).filter(|p| !p.trim().is_empty()),
            retry: RetryPolicy::default(),
        })?)
    }

    /// "Test connection": settings, then `info` (connect + the CA certificate), then the
    /// authentication (an `authsign` cfssl refuses after checking the token). Stops at the
    /// first failed step.
    pub async fn test_ca_connection(&self) -> Result<Vec<CaCheckStep>, ServiceError> {
        let stored = self.db().run(|conn| load_stored(conn)).await?;
        let mut steps = Vec::new();
        let ok = |step: &str, ja: String, en: String| CaCheckStep {
            step: step.into(),
            ok: true,
            code: None,
            message: Message::new(ja, en),
        };
        let failed = |step: &str, e: &ServiceError| CaCheckStep {
            step: step.into(),
            ok: false,
            code: Some(e.code().to_string()),
            message: e.message(),
        };
        let has_key = stored.auth_key_sealed.is_some();
        let client = match self.cfssl_client(stored) {
            Ok(c) => c,
            Err(e) => {
                steps.push(failed("settings", &e));
                return Ok(steps);
            }
        };
        steps.push(ok(
            "settings",
            "設定を読み込みました。".into(),
            "Settings read.".into(),
        ));
        match CertificateAuthority::health(&client).await {
            Ok(health) => {
                let subject = health.ca_subject;
                steps.push(ok(
                    "info",
                    format!("CAに接続し、CA証明書を受け取りました: {subject}"),
                    format!("Connected; the CA sent its certificate: {subject}"),
                ));
            }
            Err(e) => {
                steps.push(failed("info", &e.into()));
                return Ok(steps);
            }
        }
        match client.check_auth().await {
            Ok(()) if has_key => steps.push(ok(
                "auth",
                "HMAC認証キーがCAに受け付けられました(authsign)。".into(),
                "The CA accepted the HMAC key (authsign).".into(),
            )),
            Ok(()) => steps.push(ok(
                "auth",
                "HMAC認証キーは未設定です。認証なしの sign を使います。".into(),
                "No HMAC key is set; the unauthenticated sign endpoint is used.".into(),
            )),
            Err(e) => steps.push(failed("auth", &e.into())),
        }
        Ok(steps)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inputs_that_carry_secrets_print_them_as_stars() {
        let ca = CaBackendInput {
            auth_key: "00112233445566778899aabbccddeeff".into(),
            proxy_password: "proxy-secret".into(),
            ..CaBackendInput::default()
        };
        let setup = crate::organisation::SetupInput {
            org_name: "org".into(),
            group_id: "G0001".into(),
            bank_code: "0001".into(),
            login_id: "master01".into(),
            name: "name".into(),
            email: "m@example.jp".into(),
            password: "setup-secret-pw".into(),
            password_confirm: "setup-secret-pw".into(),
        };
        let user = crate::users::NewUser {
            login_id: "admin001".into(),
            name: "name".into(),
            email: "a@example.jp".into(),
            role: certdesk_domain::Role::Admin,
            password: "user-secret-pw".into(),
            password_confirm: "user-secret-pw".into(),
        };
        let printed = format!("{ca:?} {setup:?} {user:?}");
        for secret in [
            "00112233445566778899aabbccddeeff",
            "proxy-secret",
            "setup-secret-pw",
            "user-secret-pw",
        ] {
            assert!(!printed.contains(secret), "{printed}");
        }
        assert!(
            printed.contains("***") && printed.contains("master01"),
            "{printed}"
        );
    }
}
