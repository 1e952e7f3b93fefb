//! One page per route.

mod audit;
mod backup_settings;
mod certificate_detail;
mod certificates;
mod check_link;
mod dashboard;
mod distribution;
mod login;
mod not_found;
mod otp;
mod pickup;
mod settings;
mod setup;
mod users;

pub use audit::AuditPage;
pub use certificate_detail::CertificateDetailPage;
pub use certificates::CertificatesPage;
pub use dashboard::{bucket_key, DashboardPage};
pub use distribution::DistributionPage;
pub use login::LoginPage;
pub use not_found::NotFoundPage;
pub use otp::OtpPage;
pub use pickup::PickupPage;
pub use settings::SettingsPage;
pub use setup::SetupPage;
pub use users::UsersPage;
