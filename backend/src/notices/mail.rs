//! Sending one mail over SMTP with lettre (tokio, rustls on aws-lc-rs, Mozilla's roots), step
//! by step, so that a failure says which step failed: connect (`E-MAIL-001`), TLS
//! (`E-MAIL-004`), authentication (`E-MAIL-002`), a refused recipient (`E-MAIL-003`), or the
//! sender or message refused (`E-MAIL-005`). The password is only handed to lettre's
//! `Credentials`; it is never logged or put into an error.

use certdesk_domain::notices::{MailError, NoticeMail, SmtpSecurity};
use lettre::message::header::ContentType;
use lettre::message::{Mailbox, Message};
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{AsyncSmtpConnection, TlsParameters};
use lettre::transport::smtp::commands::{Data, Mail, Rcpt};
use lettre::transport::smtp::extension::ClientId;
use std::time::Duration;

/// How long one SMTP step may take.
const TIMEOUT: Duration = Duration::from_secs(20);

/// Where and how to send; built from the notification settings and the opened password.
pub struct SmtpConfig {
    pub host: String,
    pub port: u16,
    pub security: SmtpSecurity,
    pub username: String,
    pub password: Option<String>,
    pub from: String,
}

impl std::fmt::Debug for SmtpConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("security", &self.security)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .field("from", &self.from)
            .finish()
    }
}

/// A failure: the coded error people see, and the server's own words for the log.
#[derive(Debug)]
pub struct SendFailure {
    pub error: MailError,
    pub detail: String,
}

fn fail(error: MailError, detail: impl std::fmt::Display) -> SendFailure {
    SendFailure {
        error,
        detail: detail.to_string(),
    }
}

fn mailbox(address: &str) -> Result<Mailbox, SendFailure> {
    address.trim().parse::<Mailbox>().map_err(|e| {
        fail(
            MailError::BadAddress {
                address: address.trim().to_string(),
            },
            e,
        )
    })
}

fn reply(e: &lettre::transport::smtp::Error) -> String {
    e.status()
        .map_or_else(|| "-".to_string(), |code| code.to_string())
}

/// Builds the message: From the settings, To and Cc as given, plain text in UTF-8.
pub fn build_message(
    from: &str,
    to: &[String],
    cc: &[String],
    mail: &NoticeMail,
) -> Result<Message, SendFailure> {
    let mut builder = Message::builder()
        .from(mailbox(from)?)
        .subject(mail.subject.clone())
        .header(ContentType::TEXT_PLAIN);
    for a in to {
        builder = builder.to(mailbox(a)?);
    }
    for a in cc {
        builder = builder.cc(mailbox(a)?);
    }
    builder.body(mail.body.clone()).map_err(|e| {
        fail(
            MailError::BadAddress {
                address: to.join(","),
            },
            e,
        )
    })
}

/// Sends `message` through the configured server.
pub async fn send(config: &SmtpConfig, message: &Message) -> Result<(), SendFailure> {
    if config.host.trim().is_empty() || config.from.trim().is_empty() {
        return Err(fail(MailError::NotConfigured, "no SMTP host or sender"));
    }
    let host = config.host.trim().to_string();
    let server = format!("{host}:{}", config.port);
    let hello = ClientId::default();
    let tls = || TlsParameters::new(host.clone()).map_err(|e| fail(MailError::Tls, e));
    let wrapper = match config.security {
        SmtpSecurity::Tls => Some(tls()?),
        SmtpSecurity::StartTls | SmtpSecurity::None => None,
    };
    let mut conn = AsyncSmtpConnection::connect_tokio1(
        (host.as_str(), config.port),
        Some(TIMEOUT),
        &hello,
        wrapper,
        None,
    )
    .await
    .map_err(|e| {
        if e.is_tls() {
            fail(MailError::Tls, &e)
        } else {
            fail(
                MailError::Connect {
                    server: server.clone(),
                },
                &e,
            )
        }
    })?;
    let result = converse(config, &mut conn, &hello, message, tls).await;
    if result.is_ok() {
        let _ = conn.quit().await;
    } else {
        conn.abort().await;
    }
    result
}

async fn converse(
    config: &SmtpConfig,
    conn: &mut AsyncSmtpConnection,
    hello: &ClientId,
    message: &Message,
    tls: impl Fn() -> Result<TlsParameters, SendFailure>,
) -> Result<(), SendFailure> {
    if config.security == SmtpSecurity::StartTls {
        if !conn.can_starttls() {
            return Err(fail(MailError::Tls, "the server does not offer STARTTLS"));
        }
        conn.starttls(tls()?, hello)
            .await
            .map_err(|e| fail(MailError::Tls, &e))?;
    }
    if let (false, Some(password)) = (config.username.is_empty(), &config.password) {
        let credentials = Credentials::new(config.username.clone(), password.clone());
        conn.auth(&[Mechanism::Plain, Mechanism::Login], &credentials)
            .await
            .map_err(|e| fail(MailError::Auth, reply(&e)))?;
    }
    let envelope = message.envelope();
    conn.command(Mail::new(envelope.from().cloned(), vec![]))
        .await
        .map_err(|e| {
            fail(
                MailError::Refused { reply: reply(&e) },
                format!("MAIL FROM: {e}"),
            )
        })?;
    for rcpt in envelope.to() {
        conn.command(Rcpt::new(rcpt.clone(), vec![]))
            .await
            .map_err(|e| {
                let error = if e.is_permanent() {
                    MailError::RecipientRejected {
                        address: rcpt.to_string(),
                    }
                } else {
                    MailError::Refused { reply: reply(&e) }
                };
                fail(error, format!("RCPT TO {rcpt}: {e}"))
            })?;
    }
    conn.command(Data).await.map_err(|e| {
        fail(
            MailError::Refused { reply: reply(&e) },
            format!("DATA: {e}"),
        )
    })?;
    conn.message(&message.formatted()).await.map_err(|e| {
        fail(
            MailError::Refused { reply: reply(&e) },
            format!("message: {e}"),
        )
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_closed_port_is_a_connect_error_naming_the_server() {
        // Bind then drop a listener to get a port nobody listens on.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("port")
            .port();
        let config = SmtpConfig {
            host: "127.0.0.1".into(),
            port,
            security: SmtpSecurity::None,
            username: String::new(),
            password: None,
            from: "certdesk@example.co.jp".into(),
        };
        let mail = NoticeMail {
            subject: "件名".into(),
            body: "本文".into(),
        };
        let message =
            build_message(&config.from, &["a@example.co.jp".into()], &[], &mail).expect("message");
        let failure = send(&config, &message).await.expect_err("refused");
        assert_eq!(
            failure.error,
            MailError::Connect {
                server: format!("127.0.0.1:{port}")
            }
        );
    }

    #[test]
    fn a_bad_address_is_refused_before_connecting_and_the_password_is_not_in_debug() {
        let mail = NoticeMail {
            subject: "s".into(),
            body: "b".into(),
        };
        let e = build_message(
            "certdesk@example.co.jp",
            &["not an address".into()],
            &[],
            &mail,
        )
        .expect_err("bad");
        assert_eq!(e.error.code(), "E-MAIL-007");
        let config = SmtpConfig {
            host: "h".into(),
            port: 25,
            security: SmtpSecurity::None,
            username: "u".into(),
            password: Some("hunter2".into()),
            from: "f@example.co.jp".into(),
        };
        assert!(!format!("{config:?}").contains("hunter2"));
    }
}
