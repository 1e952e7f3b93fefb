//! certdesk's domain: the rules of ../shared/DOMAIN.md as plain Rust, with no I/O.
//!
//! Everything here builds for `wasm32-unknown-unknown` as well, so the browser and the server
//! check input with the same code. Time is always passed in (`now: OffsetDateTime`); nothing in
//! this crate reads the clock.
//!
//! Which error type goes where: one enum per code family, each declared with
//! `error_codes!` (in [`error`]) so that every code is written once: [`ValidationError`] (`E-VAL`)
//! for input that breaks a rule of form, [`lifecycle::LifecycleError`] (`E-CERT`) for a
//! certificate action that is refused, [`SetupError`], [`AuthError`], [`UserError`] and the
//! enums of their own area (`E-DIST`, `E-PICKUP`, `E-CA`, `E-PROF`, `E-NOTICE`, `E-MAIL`,
//! `E-CSV`). The backend wraps them in its own `ServiceError`, and the UI shows them through
//! `UiError`.

pub mod audit;
pub mod auth;
pub mod authority;
pub mod backup;
pub mod dashboard;
pub mod distribution;
pub mod enroll_browser;
pub mod enrolment;
pub mod error;
pub mod external_ca;
pub mod ids;
pub mod lang;
pub mod lifecycle;
pub mod notices;
pub mod operation;
pub mod otp;
pub mod profile;
pub mod role;
pub mod serve;
pub mod userfile;
pub mod views;

pub use audit::AuditAction;
pub use auth::{LockoutPolicy, SessionPolicy};
pub use error::{AuthError, Field, SetupError, UserError, ValidationError};
pub use ids::{BankCode, Email, GroupId, LoginId, OrganisationName, Password, PersonName};
pub use lang::{Lang, Message};
pub use operation::{Operation, OperationKind};
pub use role::Role;
