//! Pieces every page uses: the console layout, error display, form fields.

mod error;
mod field;
mod form;
mod layout;
mod step_up;

pub use error::{ErrorBanner, FormErrorBanner};
pub use field::TextField;
pub use form::ActionForm;
pub use layout::{ConsoleLayout, LangSwitch, StandaloneHeader};
pub use step_up::{bi, resubmit_after_step_up, StepUp, StepUpDialog, STEP_UP_CODE};

/// Leaves the single-page app and loads `path` from the server, so that the server decides
/// what the new session may see (after sign-in, setup and sign-out).
pub fn navigate_hard(path: &str) {
    #[cfg(feature = "hydrate")]
    {
        let _ = leptos::prelude::window().location().set_href(path);
    }
    #[cfg(not(feature = "hydrate"))]
    {
        let _ = path;
    }
}
