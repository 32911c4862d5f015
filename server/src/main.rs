/// A model pass allocates dozens of short-lived buffers of up to a few MB. glibc hands the
/// large ones back to the kernel when they are freed, and the next pass faults them in again
/// (a sixth of a full pass went to page faults); mimalloc keeps them for reuse.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::Parser;
use dllm_ls::cli::{self, Cli, Command};

fn main() {
    // Before any thread exists (see `pin_thread_count`).
    dllm_models::pin_thread_count();
    let cli = Cli::try_parse().unwrap_or_else(|e| usage_error(e));
    dllm_ls::logging::init("info");
    let result = match cli.command {
        None => {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build();
            match runtime {
                Ok(rt) => {
                    let code = rt.block_on(dllm_ls::lsp::serve_stdio());
                    // The stdin reader may still sit in a blocking read, and handlers may still
                    // wait on the client: do not wait for either.
                    rt.shutdown_background();
                    std::process::exit(code);
                }
                Err(e) => Err(cli::CliError {
                    code: 1,
                    error: e.into(),
                }),
            }
        }
        Some(Command::Infill(args)) => cli::infill(args),
        Some(Command::FillHoles(args)) => cli::fill_holes(args),
    };
    if let Err(e) = result {
        eprintln!("dllm-ls: {:#}", e.error);
        std::process::exit(e.code);
    }
}

/// Help and version go to stdout as clap prints them; a usage error is one line on stderr and
/// the documented exit code, without clap's usage hint.
fn usage_error(e: clap::Error) -> ! {
    if !e.use_stderr() {
        e.exit();
    }
    let text = e.to_string();
    let first = text.lines().next().unwrap_or("invalid arguments");
    eprintln!("dllm-ls: {}", first.trim_start_matches("error: "));
    std::process::exit(cli::EXIT_USAGE);
}
