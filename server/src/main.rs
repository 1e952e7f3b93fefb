//! `certdesk`: see `certdesk --help`.

#[tokio::main]
async fn main() {
    certdesk_server::logging::init();
    let cli = certdesk_server::cli::Cli::parse_args();
    let code = certdesk_server::cli::run(cli).await;
    std::process::exit(code);
}
