//! The first-run setup token: when other machines can reach the console
//! ([`crate::Serving::reachable_from_other_machines`]), the setup page creates the
//! organisation and its master only with a one-time token that `serve` prints on its own
//! terminal and writes to `<data dir>/setup-token` (0600). Whoever finds the setup page on the
//! network first cannot claim the master account without it. The file is the token's one
//! record: a new one at each start of `serve`, deleted once setup is done. `certdesk setup`
//! (the headless install, run on the server itself) needs none.

use crate::error::ServiceError;
use crate::organisation::SetupInput;
use crate::{Actor, Backend, CurrentUser, SessionToken};
use certdesk_domain::SetupError;
use rand::Rng;
use sha2::{Digest, Sha256};
use std::path::PathBuf;

/// The token's file in the data directory.
pub const SETUP_TOKEN_FILE: &str = "setup-token";

/// Crockford's base32 alphabet: no I, L, O or U to misread when typing it from a terminal.
const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// 4 groups of 5 characters, 100 random bits: `7K2MP-9QXDR-…`.
fn new_token() -> String {
    let mut rng = rand::thread_rng();
    let chars: Vec<char> = (0..20)
        .map(|_| char::from(ALPHABET[rng.gen_range(0..ALPHABET.len())]))
        .collect();
    chars
        .chunks(5)
        .map(|c| c.iter().collect::<String>())
        .collect::<Vec<_>>()
        .join("-")
}

/// The token as compared: upper case, without the dashes and spaces people type or paste.
fn normalised(token: &str) -> Vec<u8> {
    token
        .bytes()
        .filter(|b| !matches!(b, b'-' | b' ' | b'\t' | b'\r' | b'\n'))
        .map(|b| b.to_ascii_uppercase())
        .collect()
}

impl Backend {
    fn setup_token_path(&self) -> PathBuf {
        self.settings().data_dir.join(SETUP_TOKEN_FILE)
    }

    /// True while setup is pending on a console other machines can reach: the setup page
    /// then asks for the token.
    pub fn setup_token_required(&self) -> bool {
        self.needs_setup() && self.settings().serving.reachable_from_other_machines()
    }

    /// At the start of `serve`: when [`Backend::setup_token_required`], a new token written to
    /// `<data dir>/setup-token` with mode 0600 and returned for the terminal; otherwise `None`
    /// (and a token file left over from before setup is removed).
    pub fn issue_setup_token(&self) -> Result<Option<String>, ServiceError> {
        let path = self.setup_token_path();
        if !self.setup_token_required() {
            if !self.needs_setup() {
                self.remove_setup_token();
            }
            return Ok(None);
        }
        let token = new_token();
        write_private(&path, &token)?;
        Ok(Some(token))
    }

    /// The first-run setup from the setup page: [`Backend::set_up`], after the token check
    /// when [`Backend::setup_token_required`]. A missing or wrong token is refused
    /// (`E-SETUP-003`, `E-SETUP-004`) before anything is read or created; the token file is
    /// deleted once setup is done.
    pub async fn set_up_from_page(
        &self,
        input: SetupInput,
        token: Option<&str>,
        actor: Actor,
    ) -> Result<(SessionToken, CurrentUser), ServiceError> {
        if self.setup_token_required() {
            let given = normalised(token.unwrap_or_default());
            if given.is_empty() {
                return Err(SetupError::TokenMissing.into());
            }
            let expected = std::fs::read_to_string(self.setup_token_path())
                .map(|t| normalised(&t))
                .unwrap_or_default();
            // Digests compared, so the time taken says nothing about how much matched.
            if expected.is_empty() || Sha256::digest(&given) != Sha256::digest(&expected) {
                tracing::warn!("first-run setup refused: wrong setup token");
                return Err(SetupError::TokenWrong.into());
            }
        }
        let done = self.set_up(input, actor).await?;
        self.remove_setup_token();
        Ok(done)
    }

    fn remove_setup_token(&self) {
        let path = self.setup_token_path();
        match std::fs::remove_file(&path) {
            Ok(()) => tracing::info!(file = %path.display(), "setup token removed"),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                tracing::error!(file = %path.display(), error = %e, "cannot remove the setup token")
            }
        }
    }
}

/// Writes `text` to `path`, readable and writable by certdesk's own user only (also when the
/// file existed with another mode).
fn write_private(path: &std::path::Path, text: &str) -> Result<(), ServiceError> {
    use std::io::Write;
    let fail = |e: std::io::Error| {
        ServiceError::Internal(format!(
            "cannot write the setup token {}: {e}",
            path.display()
        ))
    };
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(fail)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))
            .map_err(fail)?;
    }
    file.write_all(format!("{text}\n").as_bytes()).map_err(fail)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_four_groups_of_five_unambiguous_characters() {
        let t = new_token();
        assert_eq!(t.len(), 23, "{t}");
        assert!(t.split('-').all(|g| g.len() == 5), "{t}");
        assert!(!t.contains(['I', 'L', 'O', 'U']), "{t}");
        assert_ne!(t, new_token());
    }

    #[test]
    fn typed_tokens_compare_without_case_dashes_or_spaces() {
        assert_eq!(normalised("abcde-fghjk\n"), normalised("ABCDE FGHJK"));
        assert_ne!(normalised("ABCDE-FGHJK"), normalised("ABCDE-FGHJ0"));
    }
}
