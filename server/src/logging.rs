//! Logging to stderr (or a file): stdout is the LSP channel and must carry nothing else.

use tracing_subscriber::EnvFilter;

/// `DLLM_LOG` (an env-filter directive) wins over `level`; `DLLM_LOG_FILE` sends logs to a file.
pub fn init(level: &str) {
    let filter = EnvFilter::try_from_env("DLLM_LOG").unwrap_or_else(|_| EnvFilter::new(level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false)
        .with_target(false);
    let file = std::env::var_os("DLLM_LOG_FILE").and_then(|path| {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .ok()
    });
    let _ = match file {
        Some(file) => builder.with_writer(std::sync::Mutex::new(file)).try_init(),
        None => builder.with_writer(std::io::stderr).try_init(),
    };
}
