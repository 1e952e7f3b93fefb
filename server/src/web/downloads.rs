//! Files for signed-in console users: a certificate, the users CSV and its template, the
//! prepared distribution files and password sheets, a bulk run's result, and the external
//! CA's certificate and CRL. Every handler takes a [`ConsoleUser`], so a request without a
//! session is answered with `E-AUTH-003` (401), never redirected to the sign-in page.

use super::access::ConsoleUser;
use super::error::WebError;
use super::public::ca_file;
use super::{attachment, AppState};
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::header;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use certdesk_backend::{pem, Backend, ServiceError};
use certdesk_domain::external_ca::CaBackendKind;
use certdesk_domain::userfile::ExportEncoding;
use certdesk_domain::SetupError;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/certificates/{serial}/cert.pem", get(certificate_pem))
        .route("/users/export.csv", get(users_export))
        .route("/users/template.csv", get(users_template))
        .route("/users/export.xlsx", get(users_export_xlsx))
        .route("/distribution/{token}/file", get(delivery_file))
        .route(
            "/distribution/{token}/passwords.csv",
            get(delivery_passwords),
        )
        .route("/distribution/{token}/sheet", get(delivery_sheet))
        .route("/enrolment/sheet", axum::routing::post(enrolment_sheet))
        .route("/bulk/{job}/result.csv", get(bulk_result_csv))
        .route("/bulk/{job}/result.xlsx", get(bulk_result_xlsx))
        .route("/ca/cfssl/{file}", get(cfssl_ca_file))
}

/// The external CA's certificate and CRL. Each request asks the CA: for signed-in users only.
async fn cfssl_ca_file(
    State(b): State<Backend>,
    UrlPath(file): UrlPath<String>,
    _: ConsoleUser,
) -> Result<Response, WebError> {
    ca_file(b, CaBackendKind::Cfssl, &file).await
}

/// A certificate (public part only).
async fn certificate_pem(
    State(b): State<Backend>,
    UrlPath(serial): UrlPath<String>,
    _: ConsoleUser,
) -> Result<Response, WebError> {
    let der = b.certificate_der(serial).await?;
    Ok((
        [(header::CONTENT_TYPE, "application/x-pem-file")],
        pem("CERTIFICATE", &der),
    )
        .into_response())
}

/// `?encoding=sjis` for Shift_JIS, else UTF-8 with BOM.
#[derive(Debug, Default, serde::Deserialize)]
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

    fn download(&self, file_name: &str, bytes: Vec<u8>) -> Response {
        let content_type = match self.encoding() {
            ExportEncoding::ShiftJis => "text/csv; charset=Shift_JIS",
            ExportEncoding::Utf8Bom => "text/csv; charset=utf-8",
        };
        attachment(file_name, content_type, bytes)
    }
}

/// All users with their current certificate, for Excel.
async fn users_export(
    State(b): State<Backend>,
    Query(query): Query<CsvQuery>,
    _: ConsoleUser,
) -> Result<Response, WebError> {
    let bytes = b.export_users_csv(query.encoding()).await?;
    Ok(query.download("certdesk-users.csv", bytes))
}

/// The media type of an `.xlsx` workbook.
const XLSX: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

/// All users with their current certificate, as an `.xlsx` workbook (text cells).
async fn users_export_xlsx(State(b): State<Backend>, _: ConsoleUser) -> Result<Response, WebError> {
    let bytes = b.export_users_xlsx().await?;
    Ok(attachment("certdesk-users.xlsx", XLSX, bytes))
}

/// A bulk run's result per user, as an `.xlsx` workbook (text cells).
async fn bulk_result_xlsx(
    State(b): State<Backend>,
    UrlPath(job): UrlPath<i64>,
    _: ConsoleUser,
) -> Result<Response, WebError> {
    let bytes = b.bulk_result_xlsx(job).await?;
    Ok(attachment(
        &format!("certdesk-bulk-{job}.xlsx"),
        XLSX,
        bytes,
    ))
}

/// An empty users file with the header and two example rows.
async fn users_template(Query(query): Query<CsvQuery>, _: ConsoleUser) -> Response {
    query.download(
        "certdesk-users-template.csv",
        certdesk_domain::userfile::template_csv(query.encoding()),
    )
}

/// A prepared `.p12` or ZIP (the backend allows masters and admins).
async fn delivery_file(
    State(b): State<Backend>,
    UrlPath(token): UrlPath<String>,
    user: ConsoleUser,
) -> Result<Response, WebError> {
    let f = b.delivery_file(token, user.actor()).await?;
    Ok(attachment(&f.file_name, f.content_type, f.bytes))
}

/// The passwords of a bundle or pickup as CSV, separate from the files.
async fn delivery_passwords(
    State(b): State<Backend>,
    UrlPath(token): UrlPath<String>,
    user: ConsoleUser,
) -> Result<Response, WebError> {
    let slips = b.delivery_sheet(token, user.actor()).await?;
    Ok(attachment(
        "certdesk-passwords.csv",
        "text/csv; charset=utf-8",
        certdesk_backend::slips_csv(&slips),
    ))
}

/// The printable password sheet: one slip per user.
async fn delivery_sheet(
    State(b): State<Backend>,
    UrlPath(token): UrlPath<String>,
    user: ConsoleUser,
) -> Result<Response, WebError> {
    let org = b
        .organisation()
        .await?
        .ok_or(ServiceError::from(SetupError::NotSetUp))?;
    let slips = b.delivery_sheet(token, user.actor()).await?;
    Ok((
        [(header::CACHE_CONTROL, "no-store")],
        Html(crate::sheet::render(
            &org,
            &slips,
            b.settings().check_url.as_deref(),
        )),
    )
        .into_response())
}

/// The printable enrolment slips the console was just given (issue 17; see
/// [`crate::enrol_sheet`]).
async fn enrolment_sheet(
    State(b): State<Backend>,
    _: ConsoleUser,
    body: axum::body::Bytes,
) -> Result<Response, WebError> {
    Ok(crate::enrol_sheet::respond(&b, &body).await?)
}

/// A bulk run's result per user, UTF-8 with BOM.
async fn bulk_result_csv(
    State(b): State<Backend>,
    UrlPath(job): UrlPath<i64>,
    _: ConsoleUser,
) -> Result<Response, WebError> {
    let bytes = b.bulk_result_csv(job).await?;
    Ok(CsvQuery::default().download(&format!("certdesk-bulk-{job}.csv"), bytes))
}
