//! `certdesk`: see `certdesk --help`.

use clap::Parser;
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_env("CERTDESK_LOG").unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = certdesk_server::cli::Cli::parse();
    let code = certdesk_server::cli::run(cli).await;
    std::process::exit(code);
}
