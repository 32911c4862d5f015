//! The LSP face of dllm-ls. State-changing notifications (open, change, close, configuration)
//! are applied in place on the LSP loop; everything slow runs on a snapshot through the pipeline
//! and the engine worker.
//!
//! - `dispatch.rs`: the `LanguageServer` impl, the one table from method to handler, with the
//!   panic guard.
//! - `handlers/`: one request or notification a file.
//! - `state.rs` the shared `State`; `snapshot.rs` `DocumentSnapshot`, what a request reads;
//!   `backend.rs` `Backend` and model loading.
//! - `capabilities.rs`, `command.rs` (the `dllm.*` commands and their typed answers),
//!   `ext.rs` (dllm-ls's own requests, `dllm/nextEdit`), `error.rs` (named error codes).
//! - `from_proto.rs` / `to_proto.rs`: LSP types in and out, at the edge.
//! - `inline.rs` and `actions.rs`: the work two handlers share; `loading.rs`: requests wait
//!   for a loading model.

mod actions;
mod backend;
mod capabilities;
mod command;
mod dispatch;
mod error;
mod ext;
mod from_proto;
mod handlers;
mod inline;
mod loading;
mod snapshot;
mod state;
mod to_proto;

pub use backend::Backend;

use tower_lsp_server::{LspService, Server};

use crate::lifecycle::{Ending, Lifecycle};

/// Messages handled at once. Requests that wait for a loading model (`loading.rs`) each hold
/// one until it loads; with tower-lsp-server's default of 4, three of them and `initialized`
/// would hold back the edit or the newer keystroke that cancels them.
const CONCURRENT_MESSAGES: usize = 64;

/// How long answers already being computed may still go out once the input has closed.
const CLOSED_INPUT_GRACE: std::time::Duration = std::time::Duration::from_secs(2);

/// Serves LSP on stdin/stdout until the client exits; returns the process's exit code.
pub async fn serve_stdio() -> i32 {
    let (service, socket) = LspService::build(Backend::new)
        .custom_method("textDocument/inlineCompletion", Backend::inline_completion)
        .custom_method(ext::NEXT_EDIT, Backend::next_edit)
        .finish();
    let lifecycle = Lifecycle::new();
    let guarded =
        crate::transport::guard(tokio::io::stdin(), tokio::io::stdout(), lifecycle.clone());
    let serve = Server::new(guarded.input, guarded.output, socket)
        .concurrency_level(CONCURRENT_MESSAGES)
        .serve(service);
    tokio::pin!(serve);
    let (ending, served) = tokio::select! {
        ending = lifecycle.ended() => (ending, false),
        // The server stops only once its input has closed.
        () = &mut serve => (Ending::InputClosed, true),
    };
    tracing::info!("ending: {ending:?}");
    if ending == Ending::InputClosed {
        let rest = async {
            if !served {
                serve.await;
            }
            let _ = guarded.writer.await;
        };
        if tokio::time::timeout(CLOSED_INPUT_GRACE, rest)
            .await
            .is_err()
        {
            tracing::warn!("input closed with answers still being computed; not waiting for them");
        }
    }
    lifecycle.exit_code(ending)
}
