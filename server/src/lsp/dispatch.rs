//! The one dispatch place: tower-lsp-server's `LanguageServer` impl is a table from LSP method
//! (and `dllm.*` command) to handler, each call wrapped in the panic guard, each error turned
//! into a JSON-RPC error here, at the edge.

use std::future::Future;
use std::panic::AssertUnwindSafe;

use futures::FutureExt;
use serde::Serialize;
use tower_lsp_server::jsonrpc::{Error as RpcError, Result as RpcResult};
use tower_lsp_server::ls_types::*;
use tower_lsp_server::LanguageServer;

use super::backend::Backend;
use super::command::Command;
use super::error::{LspError, LspResult};
use super::{from_proto, handlers};

impl LanguageServer for Backend {
    async fn initialize(&self, params: InitializeParams) -> RpcResult<InitializeResult> {
        guarded("initialize", handlers::initialize(self, params)).await
    }

    async fn initialized(&self, params: InitializedParams) {
        notification("initialized", handlers::initialized(self, params)).await;
    }

    async fn shutdown(&self) -> RpcResult<()> {
        guarded("shutdown", async { handlers::shutdown(&self.state()) }).await
    }

    // Document notifications change the state before their first `.await`: in arrival order.
    async fn did_open(&self, params: DidOpenTextDocumentParams) {
        notification("didOpen", async {
            handlers::did_open(&mut self.state(), params)
        })
        .await;
    }

    async fn did_change(&self, params: DidChangeTextDocumentParams) {
        notification("didChange", async {
            handlers::did_change(&mut self.state(), params)
        })
        .await;
    }

    async fn did_close(&self, params: DidCloseTextDocumentParams) {
        notification("didClose", async {
            handlers::did_close(&mut self.state(), params)
        })
        .await;
    }

    async fn did_change_configuration(&self, params: DidChangeConfigurationParams) {
        let handler = handlers::did_change_configuration(self, params);
        notification("didChangeConfiguration", handler).await;
    }

    async fn completion(&self, params: CompletionParams) -> RpcResult<Option<CompletionResponse>> {
        guarded("completion", handlers::completion(self, params)).await
    }

    async fn code_action(&self, params: CodeActionParams) -> RpcResult<Option<CodeActionResponse>> {
        guarded("codeAction", async {
            let snap = self.snapshot(&params.text_document.uri)?;
            handlers::code_action(snap, params)
        })
        .await
    }

    async fn code_action_resolve(&self, action: CodeAction) -> RpcResult<CodeAction> {
        guarded(
            "codeAction/resolve",
            handlers::code_action_resolve(self, action),
        )
        .await
    }

    async fn execute_command(&self, params: ExecuteCommandParams) -> RpcResult<Option<LSPAny>> {
        guarded("executeCommand", async {
            match from_proto::command(&params.command)? {
                Command::Status => answer(handlers::status(self)?),
                command => answer(handlers::execute_command(self, command, params).await?),
            }
        })
        .await
    }
}

impl Backend {
    /// `textDocument/inlineCompletion`, registered as a custom method in `serve_stdio`.
    pub(crate) async fn inline_completion(
        &self,
        params: InlineCompletionParams,
    ) -> RpcResult<Option<InlineCompletionResponse>> {
        guarded(
            "inlineCompletion",
            handlers::inline_completion(self, params),
        )
        .await
    }

    /// `dllm/nextEdit`, registered as a custom method in `serve_stdio`.
    pub(crate) async fn next_edit(
        &self,
        params: super::ext::NextEditParams,
    ) -> RpcResult<Option<super::ext::NextEdit>> {
        guarded("nextEdit", handlers::next_edit(self, params)).await
    }
}

/// A command's typed result as the JSON `workspace/executeCommand` answers with.
fn answer(result: impl Serialize) -> LspResult<Option<LSPAny>> {
    serde_json::to_value(result)
        .map(Some)
        .map_err(|e| LspError::internal(format!("an answer that does not serialise: {e}")))
}

/// Runs a request handler; a panic becomes an InternalError reply and a log line instead of
/// taking the server (and every open document) down with it.
pub(crate) async fn guarded<T>(
    what: &str,
    handler: impl Future<Output = LspResult<T>>,
) -> RpcResult<T> {
    match AssertUnwindSafe(handler).catch_unwind().await {
        Ok(result) => result.map_err(RpcError::from),
        Err(panic) => {
            let message = crate::engine::panic_message(panic);
            tracing::error!("{what} panicked: {message}");
            Err(LspError::internal("Internal error").into())
        }
    }
}

/// [`guarded`] for notifications, which have no reply: an error is logged.
async fn notification(what: &str, handler: impl Future<Output = LspResult<()>>) {
    if let Err(e) = guarded(what, handler).await {
        tracing::error!("{what}: {}", e.message);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tower_lsp_server::jsonrpc::ErrorCode;

    #[tokio::test]
    async fn a_panicking_handler_becomes_an_internal_error() {
        let r: RpcResult<()> = guarded("test", async { panic!("boom") }).await;
        assert_eq!(r.unwrap_err().code, ErrorCode::InternalError);
        let r = guarded("test", async { Ok(7) }).await;
        assert_eq!(r.unwrap(), 7);
        let r: RpcResult<()> = guarded("test", async { Err(LspError::content_modified()) }).await;
        assert_eq!(r.unwrap_err().code, ErrorCode::ContentModified);
    }
}
