//! The `dllm-ls` process: arguments, logging, then the language server or a CLI command, and the
//! exit code. A library function so that the end-to-end tests' binary runs exactly this.

use clap::Parser;

use crate::cli::{self, Cli, Command};

pub fn main() -> ! {
    // Before any thread exists (see `pin_thread_count`).
    dllm_models::pin_thread_count();
    let cli = Cli::try_parse().unwrap_or_else(|e| usage_error(e));
    // A command-line run answers on stdout and says why it refused on stderr: its progress
    // lines would only bury that. The language server's log is read when something goes wrong.
    let level = match cli.command {
        None => "info",
        Some(_) => "warn",
    };
    crate::logging::init(level);
    let result = match cli.command {
        None => serve(),
        Some(Command::Infill(args)) => cli::infill(args),
        Some(Command::FillHoles(args)) => cli::fill_holes(args),
        Some(Command::Pull(args)) => crate::hub_cli::pull(args),
        Some(Command::Models) => crate::hub_cli::models(),
    };
    match result {
        Ok(()) => std::process::exit(0),
        Err(e) => {
            eprintln!("dllm-ls: {:#}", e.error);
            std::process::exit(e.code);
        }
    }
}

/// The language server on stdio; returns only if it could not start.
fn serve() -> Result<(), cli::CliError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| cli::CliError {
            code: 1,
            error: e.into(),
        })?;
    let code = runtime.block_on(crate::lsp::serve_stdio());
    // The stdin reader may still sit in a blocking read, and handlers may still wait on the
    // client: do not wait for either.
    runtime.shutdown_background();
    std::process::exit(code);
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
