//! Certificate authorities: the embedded CA (certdesk's own key, the default) and cfssl over
//! HTTP, both behind the domain's `CertificateAuthority` interface ([`authority`]); the
//! embedded CA's register of what it issued and revoked, and its CRLs ([`register`]); the
//! issuing profile ([`profile`]); the external CA's settings ([`settings`]); and the
//! settling of requests whose answer was lost ([`reconcile`]).
//!
//! Nothing here runs a lifecycle operation: that is `certificates::flow`, which uses this
//! module and is not used by it.

pub mod authority;
pub mod cfssl;
#[cfg(test)]
mod cfssl_https_tests;
mod embedded;
pub mod profile;
pub mod reconcile;
pub mod register;
pub(crate) mod server_profile;
pub mod settings;

pub(crate) use embedded::base64_encode;
pub use embedded::{
    generate_key, generate_key_off_thread, key_made_here, pem, random_serial, EmbeddedCa,
    LeafRequest,
};
