//! The Content-Security-Policy every answer carries. Scripts run only from the console's own
//! files and the inline scripts Leptos writes with the page's nonce (the hydration script and
//! the streamed resources); `'wasm-unsafe-eval'` lets the browser compile the wasm bundle.
//! No `'unsafe-inline'` for scripts, so no inline event handler or injected script runs.

/// The policy; `nonce` is the page's (Leptos' `use_nonce`), none for answers without inline
/// scripts (files, the password sheet, errors).
pub fn content_security_policy(nonce: Option<&str>) -> String {
    let nonce = nonce.map(|n| format!(" 'nonce-{n}'")).unwrap_or_default();
    format!(
        "default-src 'self'; script-src 'self'{nonce} 'wasm-unsafe-eval'; \
         style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; \
         object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    )
}

/// Sets the policy with the page's nonce on the response of a server-rendered page (called
/// by the shell, before the first byte is sent).
#[cfg(feature = "ssr")]
pub fn set_page_policy() {
    use axum::http::header::{HeaderValue, CONTENT_SECURITY_POLICY};
    use leptos::prelude::use_context;
    let nonce = leptos::nonce::use_nonce();
    let policy = content_security_policy(nonce.as_deref());
    if let (Some(opts), Ok(value)) = (
        use_context::<leptos_axum::ResponseOptions>(),
        HeaderValue::from_str(&policy),
    ) {
        opts.insert_header(CONTENT_SECURITY_POLICY, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripts_run_only_from_the_console_or_with_the_nonce() {
        let p = content_security_policy(Some("abc"));
        assert!(
            p.contains("script-src 'self' 'nonce-abc' 'wasm-unsafe-eval';"),
            "{p}"
        );
        let script_src = p
            .split(';')
            .find(|d| d.trim().starts_with("script-src"))
            .expect("script-src");
        assert!(!script_src.contains("unsafe-inline"));
        assert!(content_security_policy(None).contains("script-src 'self' 'wasm-unsafe-eval';"));
    }
}
