//! `certdesk`: see `certdesk --help`.

/// At least two worker threads, even on a one-CPU machine: Leptos' server rendering has open
/// reports of futures that are never woken when the runtime has a single worker (leptos#4647).
fn main() {
    let workers = std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .max(2);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("certdesk: cannot start the async runtime: {e}");
            std::process::exit(1);
        }
    };
    let code = runtime.block_on(async {
        certdesk_server::logging::init();
        let cli = certdesk_server::cli::Cli::parse_args();
        certdesk_server::cli::run(cli).await
    });
    std::process::exit(code);
}
