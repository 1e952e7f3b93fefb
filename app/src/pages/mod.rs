//! One page per route.

mod audit;
mod dashboard;
mod login;
mod not_found;
mod placeholder;
mod setup;

pub use audit::AuditPage;
pub use dashboard::DashboardPage;
pub use login::LoginPage;
pub use not_found::NotFoundPage;
pub use placeholder::{CertificatesPage, DistributionPage, SettingsPage, UsersPage};
pub use setup::SetupPage;
