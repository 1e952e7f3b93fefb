//! The one certificate lifecycle flow. Every operation for one user (issue, renew, revoke,
//! reissue), from a page, a bulk run or the command line, is [`Backend::apply_certificate_operation`]
//! (a bulk run calls [`Backend::apply_in_run`] with a key it made ahead). The same steps run
//! whichever CA answers; only where the CA is asked differs, in one of two strategies:
//!
//! - **in the transaction** ([`Strategy::InTransaction`]): every CA involved is the embedded
//!   one, so the certificate is signed inside the SQLite transaction that checks the rules,
//!   records the revocation, stores the certificate, its sealed key and audit rows, publishes
//!   the CRL and finishes the bulk item. If the commit fails or the process dies first, the
//!   signed bytes never left the process;
//! - **through the CA** ([`Strategy::ThroughCa`], `through_ca.rs`): an external CA is involved
//!   (cfssl, or a reissue across a switch of CAs), so the network call happens between
//!   transactions: the rules and a pending request, the revocation at the CA that issued the
//!   current certificate, then the new certificate from the CA in use.
//!
//! The shared steps (rules, revocation, supersede, storing the issued certificate, finishing
//! the run item) are the functions of `store::certificates` and [`check`] / [`order_for`] here.

use crate::ca::authority::{leaf_request, Authority};
use crate::ca::register::publish_crl_in;
use crate::ca::{self, EmbeddedCa, LeafRequest};
use crate::enrolment::csr::HolderKey;
use crate::error::ServiceError;
use crate::store::audit::Actor;
use crate::store::certificates::{
    current_issuer, finish_run_item, insert_issued, load_subject, record_revocation, supersede,
    sweep_expired, view_by_id, Issued, Revocation, Subject,
};
use crate::Backend;
use certdesk_domain::authority::CertificateOrder;
use certdesk_domain::external_ca::{CaBackendKind, CaBackendView};
use certdesk_domain::lifecycle::{self, RevocationReason};
use certdesk_domain::profile::{certificate_cn, with_bank_code, IssuingProfile};
use certdesk_domain::views::CertificateView;
use certdesk_domain::Operation;
use rcgen::{KeyPair, PublicKeyData};
use std::sync::Arc;
use time::OffsetDateTime;

/// What an operation (or a whole bulk run) reads once: the CA settings and the issuing profile.
#[derive(Clone)]
pub(crate) struct Lane {
    pub settings: CaBackendView,
    pub profile: IssuingProfile,
}

impl Lane {
    /// Whether certdesk makes the key of a new certificate for `op` (else the CA does, or no
    /// key is needed).
    pub fn makes_key(&self, op: Operation) -> bool {
        ca::key_made_here(op.issues(), self.settings.kind, &self.settings)
    }
}

/// The key a new certificate certifies.
pub(crate) enum NewKey {
    /// Made by certdesk: kept sealed in `certificate_keys` until it is handed out.
    Server(KeyPair),
    /// Made by the holder (self-service enrolment): only its public key and the holder's own
    /// request are known here; no `certificate_keys` row is ever written.
    Holder(HolderKey),
}

impl NewKey {
    /// The key's SubjectPublicKeyInfo (DER).
    pub fn spki_der(&self) -> Vec<u8> {
        match self {
            NewKey::Server(k) => k.subject_public_key_info(),
            NewKey::Holder(h) => h.spki_der.clone(),
        }
    }

    /// The private key to seal, when certdesk made it.
    pub fn server_pem(&self) -> Option<String> {
        match self {
            NewKey::Server(k) => Some(k.serialize_pem()),
            NewKey::Holder(_) => None,
        }
    }

    /// Signs a certificate for this key with the embedded CA.
    fn sign_with(&self, ca: &EmbeddedCa, leaf: &LeafRequest) -> Result<Vec<u8>, ServiceError> {
        match self {
            NewKey::Server(k) => ca.sign_client_certificate(leaf, k),
            NewKey::Holder(h) => {
                let public = rcgen::SubjectPublicKeyInfo::from_der(&h.spki_der)
                    .map_err(|_| certdesk_domain::enrolment::EnrolmentError::CsrMalformed)?;
                ca.sign_client_certificate(leaf, &public)
            }
        }
    }
}

/// One operation for one user, as the flow hands it to a strategy.
pub(crate) struct Step {
    pub user_id: i64,
    pub op: Operation,
    pub actor: Actor,
    /// The bulk run it is an item of.
    pub run: Option<i64>,
}

/// Where the CA is asked (see the module documentation).
pub(crate) enum Strategy {
    InTransaction(Arc<EmbeddedCa>),
    ThroughCa {
        /// The CA that issued the user's current certificate (revocations go there).
        revoke_at: Authority,
        /// The CA in use, for operations that issue.
        issue_by: Option<Authority>,
    },
}

/// The lifecycle rules for `op` on `s` at `now`: the reason to revoke the current certificate
/// with, if the operation revokes it.
pub(crate) fn check(
    op: Operation,
    s: &Subject,
    profile: &IssuingProfile,
    now: OffsetDateTime,
) -> Result<Option<RevocationReason>, ServiceError> {
    let current = s.current.as_ref().map(|c| &c.facts);
    Ok(match op {
        Operation::Issue => {
            lifecycle::check_issue(s.holder, current, s.valid_count, now)?;
            None
        }
        Operation::Renew => {
            lifecycle::check_renew(s.holder, current, &profile.lifecycle(), now)?;
            None
        }
        Operation::Revoke(reason) => Some(lifecycle::check_revoke(current, reason)?),
        Operation::Reissue(reason) => {
            lifecycle::check_reissue(s.holder, current, reason, s.valid_count, now)?
        }
    })
}

/// What the new certificate of `s` says: names from the organisation and profile, the CN with
/// the user's next sequence number, validity from the profile, and the serial certdesk proposes.
pub(crate) fn order_for(
    s: &Subject,
    profile: &IssuingProfile,
    now: OffsetDateTime,
    serial_hex: String,
) -> CertificateOrder {
    let (not_before, not_after) = profile.lifecycle().validity_from(now);
    CertificateOrder {
        o: with_bank_code(&s.bank_code, &s.org_name),
        ou: with_bank_code(&s.bank_code, &format!("{} - G1", profile.ca_name)),
        cn: certificate_cn(&s.login_id, s.next_seq, now),
        serial_hex,
        not_before,
        not_after,
        key_type: profile.key_type,
    }
}

impl Backend {
    /// Applies one lifecycle operation to one user, with the CA in use (a revocation goes to
    /// the CA that issued the certificate). Returns the new certificate, if one was issued.
    pub async fn apply_certificate_operation(
        &self,
        user_id: i64,
        op: Operation,
        actor: Actor,
    ) -> Result<Option<CertificateView>, ServiceError> {
        let lane = self.lane().await?;
        let key = match lane.makes_key(op) {
            true => Some(NewKey::Server(
                ca::generate_key_off_thread(lane.profile.key_type).await?,
            )),
            false => None,
        };
        self.apply_in_run(user_id, op, actor, None, key, &lane)
            .await
    }

    /// Issues (issue, renew or reissue) a certificate for a key its holder made, through the
    /// same flow and whichever CA is in use. The certificate records `key_origin = 'holder'`.
    pub(crate) async fn apply_for_holder(
        &self,
        user_id: i64,
        op: Operation,
        actor: Actor,
        holder: HolderKey,
    ) -> Result<CertificateView, ServiceError> {
        let lane = self.lane().await?;
        self.apply_in_run(
            user_id,
            op,
            actor,
            None,
            Some(NewKey::Holder(holder)),
            &lane,
        )
        .await?
        .ok_or_else(|| ServiceError::Internal("an issuing operation issued nothing".into()))
    }

    /// The CA settings and profile an operation or run works with.
    pub(crate) async fn lane(&self) -> Result<Lane, ServiceError> {
        Ok(Lane {
            settings: self.ca_backend().await?,
            profile: self.issuing_profile().await?,
        })
    }

    /// [`Self::apply_certificate_operation`] as an item of bulk run `run` (marked done in the
    /// operation's last transaction), with `key` made ahead when [`Lane::makes_key`].
    pub(crate) async fn apply_in_run(
        &self,
        user_id: i64,
        op: Operation,
        actor: Actor,
        run: Option<i64>,
        key: Option<NewKey>,
        lane: &Lane,
    ) -> Result<Option<CertificateView>, ServiceError> {
        let step = Step {
            user_id,
            op,
            actor,
            run,
        };
        match self.strategy(user_id, op, lane).await? {
            Strategy::InTransaction(ca) => {
                self.apply_in_transaction(step, key, ca, lane.profile.clone())
                    .await
            }
            Strategy::ThroughCa {
                revoke_at,
                issue_by,
            } => {
                self.apply_through_ca(step, key, &revoke_at, issue_by.as_ref())
                    .await
            }
        }
    }

    /// Which CAs `op` involves for this user, and so where they are asked.
    async fn strategy(
        &self,
        user_id: i64,
        op: Operation,
        lane: &Lane,
    ) -> Result<Strategy, ServiceError> {
        let active = lane.settings.kind;
        let revoke_side = match op.revokes() {
            true => self
                .db()
                .run(move |conn| current_issuer(conn, user_id))
                .await?
                .unwrap_or(active),
            false => active,
        };
        let embedded = |kind| kind == CaBackendKind::Embedded;
        if (!op.revokes() || embedded(revoke_side)) && (!op.issues() || embedded(active)) {
            return Ok(Strategy::InTransaction(self.ready_ca()?));
        }
        Ok(Strategy::ThroughCa {
            revoke_at: self.authority(revoke_side).await?,
            issue_by: match op.issues() {
                true => Some(self.authority(active).await?),
                false => None,
            },
        })
    }

    /// The in-transaction strategy: the whole operation is one SQLite transaction.
    async fn apply_in_transaction(
        &self,
        step: Step,
        key: Option<NewKey>,
        ca: Arc<EmbeddedCa>,
        profile: IssuingProfile,
    ) -> Result<Option<CertificateView>, ServiceError> {
        let Step {
            user_id,
            op,
            actor,
            run,
        } = step;
        let now = self.clock().now();
        let master = self.master_key();
        let public_url = self.settings().public_url.clone();
        let serial_hex = hex::encode(ca::random_serial()?);
        self.db()
            .run(move |conn| {
                let tx = conn.transaction()?;
                sweep_expired(&tx, now)?;
                let s = load_subject(&tx, user_id)?;
                let revoke_reason = check(op, &s, &profile, now)?;
                if let (Some(reason), Some(current)) = (revoke_reason, &s.current) {
                    let revocation = Revocation {
                        certificate_id: current.id,
                        serial: &current.serial,
                        login_id: &s.login_id,
                        reason,
                        as_part_of: op.name(),
                        ca: CaBackendKind::Embedded,
                    };
                    record_revocation(&tx, now, &actor, &revocation)?;
                }
                let mut issued = None;
                if let Some(key) = key.filter(|_| op.issues()) {
                    if let (Operation::Renew, Some(current)) = (op, &s.current) {
                        supersede(&tx, now, current.id)?;
                    }
                    let order = order_for(&s, &profile, now, serial_hex);
                    let der = key.sign_with(&ca, &leaf_request(&order, &public_url)?)?;
                    let subject = format!("O={}, OU={}, CN={}", order.o, order.ou, order.cn);
                    let friendly_name = profile.friendly_name(&s.org_name, &s.login_id);
                    let certificate = Issued {
                        user_id,
                        login_id: &s.login_id,
                        op,
                        serial: &order.serial_hex,
                        seq: s.next_seq,
                        subject: &subject,
                        key_type: profile.key_type,
                        friendly_name: &friendly_name,
                        not_before: order.not_before,
                        not_after: order.not_after,
                        der: &der,
                        replaces: s.current.as_ref(),
                        ca: CaBackendKind::Embedded,
                        request: None,
                    };
                    issued = Some(insert_issued(
                        &tx,
                        now,
                        &actor,
                        &master,
                        &certificate,
                        key.server_pem().as_deref(),
                    )?);
                }
                if revoke_reason.is_some() {
                    publish_crl_in(&tx, &ca, &profile, now, &actor, op.name())?;
                }
                let view = issued
                    .map(|id| view_by_id(&tx, id, now, &profile))
                    .transpose()?;
                finish_run_item(
                    &tx,
                    now,
                    run,
                    user_id,
                    view.as_ref().map(|v| v.serial.as_str()),
                )?;
                tx.commit()?;
                Ok(view)
            })
            .await
    }
}
