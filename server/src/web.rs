//! The axum router: Leptos pages and server functions, the wasm bundle, the stylesheet, and
//! one middleware that every page and server-function request passes through:
//!
//! 1. **Cross-site requests**: a request that changes state (any method but GET/HEAD/OPTIONS)
//!    must prove it comes from the console's own pages: `Sec-Fetch-Site: same-origin` (sent
//!    by every current browser) or, where that header is missing, an `Origin` equal to the
//!    `Host`. Otherwise it is refused with `E-AUTH-005`. Together with the SameSite=Strict
//!    session cookie this is the CSRF protection (OWASP's "verifying origin with standard
//!    headers").
//! 2. **Session**: the cookie is resolved once and handed to server functions in the request's
//!    extensions; an expired session's cookie is cleared.
//! 3. **Where a page request may go**: before setup everything leads to `/setup`; after it
//!    `/setup` is gone (it leads to `/login`); console pages need a session.

use axum::body::Body;
use axum::extract::{Path as UrlPath, Request, State};
use axum::http::header::{self, HeaderMap, HeaderValue};
use axum::http::{Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;
use certdesk_app::error::{http_status, UiError};
use certdesk_app::{shell, App};
use certdesk_backend::auth::{cookie_header, token_from_cookie_header, RequestSession};
use certdesk_backend::ca::cfssl::certificate_der;
use certdesk_backend::store::audit::Actor;
use certdesk_backend::{ca, Backend, ServiceError, SessionLookup};
use certdesk_domain::authority::CertificateAuthority;
use certdesk_domain::external_ca::{CaBackendKind, CaError};
use certdesk_domain::lifecycle::LifecycleError;
use certdesk_domain::userfile::ExportEncoding;
use certdesk_domain::{AuthError, SetupError};
use leptos::config::LeptosOptions;
use leptos::prelude::provide_context;
use leptos_axum::{generate_route_list, LeptosRoutes};
use std::path::{Path, PathBuf};
use tower_http::compression::CompressionLayer;
use tower_http::services::ServeDir;
use tower_http::set_header::SetResponseHeaderLayer;

/// The wasm bundle's name: `pkg/certdesk.js` and `pkg/certdesk_bg.wasm` under the site root.
pub const OUTPUT_NAME: &str = "certdesk";

const STYLESHEET: &str = include_str!("../../style/main.css");

#[derive(Clone)]
pub struct AppState {
    pub leptos_options: LeptosOptions,
    pub backend: Backend,
}

impl axum::extract::FromRef<AppState> for Backend {
    fn from_ref(state: &AppState) -> Self {
        state.backend.clone()
    }
}

impl axum::extract::FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos_options.clone()
    }
}

/// Where the wasm bundle is looked for when no `--site-root` is given: `./target/site` if it
/// exists, else the workspace's `target/site` (where `scripts/build-wasm` writes it).
pub fn default_site_root() -> PathBuf {
    let local = PathBuf::from("target/site");
    if local.join("pkg").exists() {
        local
    } else {
        PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../target/site"))
    }
}

/// The whole console as one router.
pub fn router(backend: Backend, site_root: &Path) -> Router {
    let leptos_options = LeptosOptions::builder()
        .output_name(OUTPUT_NAME)
        .site_root(site_root.to_string_lossy().into_owned())
        .site_pkg_dir("pkg")
        .build();
    if !site_root
        .join("pkg")
        .join(format!("{OUTPUT_NAME}.js"))
        .exists()
    {
        tracing::warn!(
            site.root = %site_root.display(),
            "wasm bundle not found: pages render but buttons will not work until scripts/build-wasm has run"
        );
    }
    let state = AppState {
        leptos_options: leptos_options.clone(),
        backend: backend.clone(),
    };
    let routes = generate_route_list(App);
    let context_backend = backend.clone();
    Router::new()
        .route("/health", get(|| async { "ok" }))
        .route("/style/main.css", get(stylesheet))
        .route(
            "/ca/{file}",
            get(
                |State(b): State<Backend>, UrlPath(file): UrlPath<String>| async move {
                    ca_file(b, CaBackendKind::Embedded, &file).await
                },
            ),
        )
        .route(
            "/ca/cfssl/{file}",
            get(
                |State(b): State<Backend>, UrlPath(file): UrlPath<String>, req: Request<Body>| async move {
                    // Each request asks the external CA: for signed-in users only.
                    if !signed_in(&req) {
                        return error_response(ServiceError::Auth(AuthError::NotSignedIn));
                    }
                    ca_file(b, CaBackendKind::Cfssl, &file).await
                },
            ),
        )
        .route("/certificates/{serial}/cert.pem", get(certificate_pem))
        .route("/users/export.csv", get(users_export))
        .route("/users/template.csv", get(users_template))
        .route("/distribution/{token}/file", get(delivery_file))
        .route(
            "/distribution/{token}/passwords.csv",
            get(delivery_passwords),
        )
        .route("/distribution/{token}/sheet", get(delivery_sheet))
        .route("/pickup/download", axum::routing::post(pickup_download))
        .route("/bulk/{job}/result.csv", get(bulk_result_csv))
        // The wasm bundle compresses from ~3.4 MB to ~0.7 MB.
        .nest_service(
            "/pkg",
            tower::ServiceBuilder::new()
                .layer(CompressionLayer::new())
                .service(ServeDir::new(site_root.join("pkg"))),
        )
        .leptos_routes_with_context(
            &state,
            routes,
            move || provide_context(context_backend.clone()),
            move || shell(leptos_options.clone()),
        )
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(backend, guard))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_FRAME_OPTIONS,
            HeaderValue::from_static("DENY"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::REFERRER_POLICY,
            HeaderValue::from_static("same-origin"),
        ))
        .with_state(state)
}

async fn stylesheet() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        STYLESHEET,
    )
}

/// The CA certificate and CRL are public: relying parties (the bank's servers, nginx) fetch
/// them without a session. `/ca/...` is the embedded CA (its CRL is the distribution point in
/// the certificates it issues); `/ca/cfssl/...` asks the external CA through the CA interface
/// for signed-in users (E-CA-013 when it does not publish a CRL that way, as Debian's cfssl
/// 1.2).
async fn ca_file(b: Backend, kind: CaBackendKind, file: &str) -> Response {
    let authority = match b.authority(kind).await {
        Ok(a) => a,
        Err(e) => return error_response(e),
    };
    let answer = match file {
        "ca.pem" => authority
            .ca_certificate_pem()
            .await
            .map(|pem| ("application/x-pem-file", pem.into_bytes())),
        "ca.der" => authority
            .ca_certificate_pem()
            .await
            .and_then(|pem| certificate_der(&pem))
            .map(|der| ("application/pkix-cert", der)),
        "crl.der" => authority
            .crl_der()
            .await
            .map(|der| ("application/pkix-crl", der)),
        "crl.pem" => authority.crl_der().await.map(|der| {
            (
                "application/x-pem-file",
                ca::pem("X509 CRL", &der).into_bytes(),
            )
        }),
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    match answer {
        Ok((content_type, body)) => ([(header::CONTENT_TYPE, content_type)], body).into_response(),
        // The embedded CA before its first CRL: not ready, as before the interface.
        Err(CaError::NotOffered { .. }) if kind == CaBackendKind::Embedded => {
            error_response(ServiceError::Lifecycle(LifecycleError::CaNotReady))
        }
        Err(e) => error_response(e.into()),
    }
}

/// A certificate (public part only) for signed-in users.
async fn certificate_pem(
    State(b): State<Backend>,
    axum::extract::Path(serial): axum::extract::Path<String>,
    req: Request<Body>,
) -> Response {
    if !signed_in(&req) {
        return error_response(ServiceError::Auth(AuthError::NotSignedIn));
    }
    match b.certificate_der(serial).await {
        Ok(der) => (
            [(header::CONTENT_TYPE, "application/x-pem-file")],
            ca::pem("CERTIFICATE", &der),
        )
            .into_response(),
        Err(e) => error_response(e),
    }
}

/// `?encoding=sjis` for Shift_JIS, else UTF-8 with BOM.
#[derive(Debug, serde::Deserialize)]
struct CsvQuery {
    encoding: Option<String>,
}

impl CsvQuery {
    fn encoding(&self) -> ExportEncoding {
        match self.encoding.as_deref() {
            Some("sjis" | "shift_jis" | "cp932") => ExportEncoding::ShiftJis,
            _ => ExportEncoding::Utf8Bom,
        }
    }

    fn content_type(&self) -> &'static str {
        match self.encoding() {
            ExportEncoding::ShiftJis => "text/csv; charset=Shift_JIS",
            ExportEncoding::Utf8Bom => "text/csv; charset=utf-8",
        }
    }
}

fn signed_in(req: &Request<Body>) -> bool {
    console_actor(req).is_some()
}

fn csv_download(query: &CsvQuery, file_name: &str, bytes: Vec<u8>) -> Response {
    attachment(file_name, query.content_type(), bytes)
}

/// All users with their current certificate, for Excel (signed-in users only).
async fn users_export(
    State(b): State<Backend>,
    axum::extract::Query(query): axum::extract::Query<CsvQuery>,
    req: Request<Body>,
) -> Response {
    if !signed_in(&req) {
        return error_response(ServiceError::Auth(AuthError::NotSignedIn));
    }
    match b.export_users_csv(query.encoding()).await {
        Ok(bytes) => csv_download(&query, "certdesk-users.csv", bytes),
        Err(e) => error_response(e),
    }
}

/// An empty users file with the header and two example rows.
async fn users_template(
    axum::extract::Query(query): axum::extract::Query<CsvQuery>,
    req: Request<Body>,
) -> Response {
    if !signed_in(&req) {
        return error_response(ServiceError::Auth(AuthError::NotSignedIn));
    }
    csv_download(
        &query,
        "certdesk-users-template.csv",
        certdesk_domain::userfile::template_csv(query.encoding()),
    )
}

fn console_actor(req: &Request<Body>) -> Option<Actor> {
    req.extensions()
        .get::<RequestSession>()
        .and_then(|s| s.user.as_ref())
        .map(|u| u.actor())
}

fn attachment(file_name: &str, content_type: &str, bytes: Vec<u8>) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type.to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{file_name}\""),
            ),
            (header::CACHE_CONTROL, "no-store".to_string()),
        ],
        bytes,
    )
        .into_response()
}

/// A prepared `.p12` or ZIP (signed-in masters and admins).
async fn delivery_file(
    State(b): State<Backend>,
    axum::extract::Path(token): axum::extract::Path<String>,
    req: Request<Body>,
) -> Response {
    let Some(actor) = console_actor(&req) else {
        return error_response(ServiceError::Auth(AuthError::NotSignedIn));
    };
    match b.delivery_file(token, actor).await {
        Ok(f) => attachment(&f.file_name, f.content_type, f.bytes),
        Err(e) => error_response(e),
    }
}

/// The passwords of a bundle or pickup as CSV, separate from the files.
async fn delivery_passwords(
    State(b): State<Backend>,
    axum::extract::Path(token): axum::extract::Path<String>,
    req: Request<Body>,
) -> Response {
    let Some(actor) = console_actor(&req) else {
        return error_response(ServiceError::Auth(AuthError::NotSignedIn));
    };
    match b.delivery_sheet(token, actor).await {
        Ok(slips) => attachment(
            "certdesk-passwords.csv",
            "text/csv; charset=utf-8",
            certdesk_backend::distribution::slips_csv(&slips),
        ),
        Err(e) => error_response(e),
    }
}

/// The printable password sheet: one slip per user.
async fn delivery_sheet(
    State(b): State<Backend>,
    axum::extract::Path(token): axum::extract::Path<String>,
    req: Request<Body>,
) -> Response {
    let Some(actor) = console_actor(&req) else {
        return error_response(ServiceError::Auth(AuthError::NotSignedIn));
    };
    let org = match b.organisation().await {
        Ok(Some(org)) => org,
        Ok(None) => return error_response(ServiceError::Setup(SetupError::NotSetUp)),
        Err(e) => return error_response(e),
    };
    match b.delivery_sheet(token, actor).await {
        Ok(slips) => (
            [(header::CACHE_CONTROL, "no-store")],
            axum::response::Html(crate::sheet::render(&org, &slips)),
        )
            .into_response(),
        Err(e) => error_response(e),
    }
}

#[derive(Debug, serde::Deserialize)]
struct PickupForm {
    group_id: String,
    number: String,
    password: String,
}

/// The pickup page's form: the `.p12`, or back to the page with the refusal's code.
async fn pickup_download(
    State(b): State<Backend>,
    axum::extract::Form(form): axum::extract::Form<PickupForm>,
) -> Response {
    match b
        .pickup_download(form.group_id, form.number, form.password)
        .await
    {
        Ok(f) => attachment(&f.file_name, f.content_type, f.bytes),
        Err(ServiceError::Pickup(refusal)) => {
            let left = refusal
                .left()
                .map(|l| format!("&left={l}"))
                .unwrap_or_default();
            let mut resp =
                Redirect::to(&format!("/pickup?error={}{left}", refusal.code())).into_response();
            resp.headers_mut()
                .insert("x-certdesk-error", HeaderValue::from_static(refusal.code()));
            resp
        }
        Err(e) => error_response(e),
    }
}

/// A bulk run's result per user, UTF-8 with BOM (signed-in users only).
async fn bulk_result_csv(
    State(b): State<Backend>,
    axum::extract::Path(job): axum::extract::Path<i64>,
    req: Request<Body>,
) -> Response {
    if !signed_in(&req) {
        return error_response(ServiceError::Auth(AuthError::NotSignedIn));
    }
    let query = CsvQuery { encoding: None };
    match b.bulk_result_csv(job).await {
        Ok(bytes) => csv_download(&query, &format!("certdesk-bulk-{job}.csv"), bytes),
        Err(e) => error_response(e),
    }
}

async fn not_found() -> impl IntoResponse {
    (StatusCode::NOT_FOUND, "not found")
}

/// Paths served without a session and without the page rules.
fn is_asset(path: &str) -> bool {
    path.starts_with("/pkg/")
        || path.starts_with("/style/")
        || (path.starts_with("/ca/") && !path.starts_with("/ca/cfssl/"))
        || path == "/health"
        || path == "/favicon.ico"
}

/// True if a state-changing request comes from the console's own pages.
pub fn is_same_origin(headers: &HeaderMap) -> bool {
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(site) = text("sec-fetch-site") {
        return site == "same-origin" || site == "none";
    }
    match (text("origin"), text("host")) {
        (Some(origin), Some(host)) => origin
            .split_once("://")
            .is_some_and(|(_, authority)| authority.eq_ignore_ascii_case(host)),
        _ => false,
    }
}

/// An error response whose body the Leptos client decodes into a `UiError`.
fn error_response(error: ServiceError) -> Response {
    let status = http_status(&error);
    let ui = UiError::from(error);
    let body = serde_json::to_string(&ui).unwrap_or_default();
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

async fn guard(State(backend): State<Backend>, mut req: Request<Body>, next: Next) -> Response {
    let path = req.uri().path().to_string();
    if is_asset(&path) {
        return next.run(req).await;
    }
    let changes_state = !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    if changes_state && !is_same_origin(req.headers()) {
        tracing::warn!(http.path = %path, "cross-site request refused");
        return error_response(ServiceError::Auth(AuthError::CrossSiteRequest));
    }

    let token = req
        .headers()
        .get(header::COOKIE)
        .and_then(|v| v.to_str().ok())
        .and_then(token_from_cookie_header);
    let mut session = RequestSession {
        token: token.clone(),
        ..RequestSession::default()
    };
    if let Some(token) = token {
        match backend.resolve_session(token).await {
            Ok(SessionLookup::Valid(user)) => session.user = Some(user),
            Ok(SessionLookup::Expired) => session.expired = true,
            Ok(SessionLookup::Unknown) => {}
            Err(e) => return error_response(e),
        }
    }

    // Downloads answer with an error code instead of a redirect.
    let is_download = (path.starts_with("/certificates/") && path.ends_with("/cert.pem"))
        || (path.starts_with("/users/") && path.ends_with(".csv"))
        || (path.starts_with("/distribution/") && path.len() > "/distribution/".len())
        || (path.starts_with("/bulk/") && path.ends_with("/result.csv"))
        || path.starts_with("/ca/cfssl/");
    let is_page = req.method() == Method::GET && !path.starts_with("/api/") && !is_download;
    if is_page {
        let signed_in = session.user.is_some();
        let target = if backend.needs_setup() {
            (path != "/setup").then_some("/setup")
        } else if path == "/setup" {
            Some(if signed_in { "/" } else { "/login" })
        } else if path == "/pickup" {
            // The pickup page is for general users: no console sign-in.
            None
        } else if !signed_in && path != "/login" {
            Some(if session.expired {
                "/login?expired=1"
            } else {
                "/login"
            })
        } else if signed_in && path == "/login" {
            Some("/")
        } else {
            None
        };
        if let Some(target) = target {
            let mut resp = Redirect::to(target).into_response();
            clear_cookie_if_expired(&backend, &session, &mut resp);
            return resp;
        }
    }

    let expired = session.clone();
    req.extensions_mut().insert(session);
    let mut resp = next.run(req).await;
    clear_cookie_if_expired(&backend, &expired, &mut resp);
    resp
}

/// Clears an expired session's cookie, unless the response sets a new one (a sign-in with
/// the old cookie still in the browser must keep the new session).
fn clear_cookie_if_expired(backend: &Backend, session: &RequestSession, resp: &mut Response) {
    let sets_new = resp.headers().get_all(header::SET_COOKIE).iter().any(|v| {
        v.to_str()
            .is_ok_and(|v| token_from_cookie_header(v.split(';').next().unwrap_or("")).is_some())
    });
    if session.expired && !sets_new {
        if let Ok(v) =
            HeaderValue::from_str(&cookie_header(None, backend.settings().secure_cookies))
        {
            resp.headers_mut().append(header::SET_COOKIE, v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn same_origin_is_proven_by_sec_fetch_site_or_a_matching_origin() {
        assert!(is_same_origin(&headers(&[(
            "sec-fetch-site",
            "same-origin"
        )])));
        assert!(!is_same_origin(&headers(&[
            ("sec-fetch-site", "cross-site"),
            ("origin", "http://a:1"),
            ("host", "a:1")
        ])));
        assert!(!is_same_origin(&headers(&[(
            "sec-fetch-site",
            "same-site"
        )])));
        assert!(is_same_origin(&headers(&[
            ("origin", "http://127.0.0.1:3000"),
            ("host", "127.0.0.1:3000")
        ])));
        assert!(!is_same_origin(&headers(&[
            ("origin", "http://evil.example"),
            ("host", "127.0.0.1:3000")
        ])));
        assert!(!is_same_origin(&headers(&[("host", "127.0.0.1:3000")])));
        assert!(!is_same_origin(&headers(&[
            ("origin", "null"),
            ("host", "127.0.0.1:3000")
        ])));
    }
}
