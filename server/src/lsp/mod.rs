//! The LSP face of dllm-ls: state-changing notifications (open, change, close, configuration)
//! are applied in place on the LSP loop; everything slow runs on a snapshot through the pipeline
//! and the engine worker. One file per feature.

mod actions;
mod inline;
mod protocol;

use std::collections::HashMap;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex, MutexGuard};

use futures::FutureExt;

use dllm_models::CancelFlag;
use serde_json::Value;
use tower_lsp_server::jsonrpc::{Error as RpcError, Result as RpcResult};
use tower_lsp_server::ls_types::*;
use tower_lsp_server::{Client, LanguageServer, LspService, Server};
use tower_lsp_server::{NotCancellable, OngoingProgress, Unbounded};

use crate::config::Config;
use crate::document::{Document, Encoding};
use crate::engine::{Engine, ModelStatus};
use crate::lifecycle::{Ending, Lifecycle};
use crate::pipeline::Snapshot;

pub const COMMAND_REWRITE: &str = "dllm.rewrite";
pub const COMMAND_FILL_HOLES: &str = "dllm.fillHoles";
pub const COMMAND_COMPLETE_BLOCK: &str = "dllm.completeBlock";
pub const COMMAND_STATUS: &str = "dllm.status";

/// Sets the flag when dropped: a request aborted by `$/cancelRequest` (its future dropped)
/// stops the sampler at the next step.
pub(crate) struct CancelOnDrop(pub CancelFlag);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.cancel();
    }
}

#[derive(Default)]
pub(crate) struct State {
    pub docs: HashMap<Uri, Document>,
    pub config: Config,
    pub encoding: Encoding,
    /// Whether the client said it shows work-done progress; only then is it asked to.
    pub work_done_progress: bool,
    /// The newest inline request per document; a newer one cancels it.
    pub inline_inflight: HashMap<Uri, CancelFlag>,
    /// All in-flight model work per document, cancelled when the document changes.
    pub doc_inflight: HashMap<Uri, Vec<CancelFlag>>,
}

pub struct Backend {
    pub(crate) client: Client,
    pub(crate) engine: Engine,
    pub(crate) state: Arc<Mutex<State>>,
}

/// Runs a request handler; a panic becomes an InternalError reply and a log line instead of
/// taking the server (and every open document) down with it.
pub(crate) async fn guarded<T>(
    what: &str,
    handler: impl Future<Output = RpcResult<T>>,
) -> RpcResult<T> {
    match AssertUnwindSafe(handler).catch_unwind().await {
        Ok(result) => result,
        Err(panic) => {
            let message = crate::engine::panic_message(panic);
            tracing::error!("{what} panicked: {message}");
            Err(RpcError::internal_error())
        }
    }
}

/// [`guarded`] for notifications, which have no reply.
async fn guarded_notification(what: &str, handler: impl Future<Output = ()>) {
    let _ = guarded(what, async {
        handler.await;
        Ok(())
    })
    .await;
}

impl Backend {
    /// The shared state. A panic while it was held (caught by [`guarded`]) does not make it
    /// unusable: the state is only ever changed whole, so the last value is still consistent.
    pub(crate) fn state(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Everything a request needs, copied out under the lock (a rope clone shares its
    /// structure), so no lock is held while the model runs.
    pub(crate) fn snapshot_with_doc(
        &self,
        uri: &Uri,
    ) -> RpcResult<(Snapshot, Encoding, Config, Document)> {
        let state = self.state();
        let doc = state
            .docs
            .get(uri)
            .ok_or_else(|| invalid_params(format!("document not open: {}", uri.as_str())))?;
        let mut snapshot = Snapshot::from_document(doc);
        snapshot.cache_key = Some(uri.as_str().to_string());
        Ok((snapshot, state.encoding, state.config.clone(), doc.clone()))
    }

    /// A cancel flag registered for `uri`, cancelled by the next edit of that document.
    pub(crate) fn track(&self, uri: &Uri) -> CancelFlag {
        let flag = CancelFlag::new();
        let mut state = self.state();
        let list = state.doc_inflight.entry(uri.clone()).or_default();
        list.retain(|f| !f.is_cancelled());
        list.push(flag.clone());
        flag
    }

    async fn load_model(&self) {
        let (model, options) = {
            let state = self.state();
            (state.config.model.clone(), state.config.load_options())
        };
        let label = model
            .clone()
            .unwrap_or_else(|| "embedded default model".into());
        // Queue the load before anything awaits, so the status says "loading" from now on.
        let done = self.engine.start_load(model, options);
        let progress = self.begin_progress(format!("loading {label}")).await;
        match done
            .await
            .unwrap_or_else(|_| Err("the engine worker stopped".into()))
        {
            Ok(description) => {
                tracing::info!("model ready: {description}");
                if let Some(p) = progress {
                    p.finish_with_message(format!("ready: {description}")).await;
                }
            }
            Err(e) => {
                tracing::error!("model failed to load: {e}");
                if let Some(p) = progress {
                    p.finish_with_message("model failed to load").await;
                }
                self.client
                    .show_message(
                        MessageType::ERROR,
                        format!("dllm-ls: the model failed to load: {e}. Features that need no model keep working."),
                    )
                    .await;
            }
        }
    }

    /// A progress report in the client's UI, where the client advertised support for them.
    /// The client's answer is awaited only briefly: a client that never answers must not hold
    /// up the load behind it.
    async fn begin_progress(
        &self,
        message: String,
    ) -> Option<OngoingProgress<Unbounded, NotCancellable>> {
        if !self.state().work_done_progress {
            return None;
        }
        let token = ProgressToken::String(format!("dllm-load-{}", std::process::id()));
        let created = self.client.create_work_done_progress(token.clone());
        match tokio::time::timeout(PROGRESS_ANSWER_WAIT, created).await {
            Ok(Ok(())) => Some(
                self.client
                    .progress(token, "dllm-ls")
                    .with_message(message)
                    .begin()
                    .await,
            ),
            Ok(Err(e)) => {
                tracing::debug!("the client refused a progress report: {e}");
                None
            }
            Err(_) => {
                tracing::warn!("the client did not answer window/workDoneProgress/create");
                None
            }
        }
    }

    async fn apply_settings(&self, settings: &Value) {
        let applied = self.state().config.apply(settings);
        for warning in &applied.warnings {
            tracing::warn!("{warning}");
            self.client
                .show_message(MessageType::WARNING, format!("dllm-ls: {warning}"))
                .await;
        }
        if applied.reload_model {
            self.load_model().await;
        }
    }
}

/// How long a load waits for the client to accept a progress report.
const PROGRESS_ANSWER_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

pub(crate) fn invalid_params(message: impl Into<String>) -> RpcError {
    RpcError {
        code: tower_lsp_server::jsonrpc::ErrorCode::InvalidParams,
        message: message.into().into(),
        data: None,
    }
}

pub(crate) fn uri_path(uri: &Uri) -> Option<std::path::PathBuf> {
    uri.to_file_path().map(|p| p.into_owned())
}

impl LanguageServer for Backend {
    async fn initialize(&self, params: InitializeParams) -> RpcResult<InitializeResult> {
        let encoding = Encoding::negotiate(
            params
                .capabilities
                .general
                .as_ref()
                .and_then(|g| g.position_encodings.as_deref()),
        );
        let work_done_progress = params
            .capabilities
            .window
            .as_ref()
            .and_then(|w| w.work_done_progress)
            .unwrap_or(false);
        let warnings = {
            let mut state = self.state();
            state.encoding = encoding;
            state.work_done_progress = work_done_progress;
            params
                .initialization_options
                .as_ref()
                .map(|o| state.config.apply(o).warnings)
                .unwrap_or_default()
        };
        for w in warnings {
            tracing::warn!("{w}");
            self.client
                .show_message(MessageType::WARNING, format!("dllm-ls: {w}"))
                .await;
        }
        Ok(InitializeResult {
            server_info: Some(ServerInfo {
                name: "dllm-ls".into(),
                version: Some(env!("CARGO_PKG_VERSION").into()),
            }),
            capabilities: ServerCapabilities {
                position_encoding: Some(encoding.kind()),
                text_document_sync: Some(TextDocumentSyncCapability::Kind(
                    TextDocumentSyncKind::INCREMENTAL,
                )),
                inline_completion_provider: Some(OneOf::Left(true)),
                completion_provider: Some(CompletionOptions::default()),
                code_action_provider: Some(CodeActionProviderCapability::Options(
                    CodeActionOptions {
                        code_action_kinds: Some(vec![
                            CodeActionKind::REFACTOR_REWRITE,
                            CodeActionKind::QUICKFIX,
                        ]),
                        resolve_provider: Some(true),
                        work_done_progress_options: Default::default(),
                    },
                )),
                execute_command_provider: Some(ExecuteCommandOptions {
                    commands: vec![
                        COMMAND_REWRITE.into(),
                        COMMAND_FILL_HOLES.into(),
                        COMMAND_COMPLETE_BLOCK.into(),
                        COMMAND_STATUS.into(),
                    ],
                    work_done_progress_options: Default::default(),
                }),
                ..Default::default()
            },
            offset_encoding: None,
        })
    }

    async fn initialized(&self, _: InitializedParams) {
        guarded_notification("initialized", async {
            self.load_model().await;
        })
        .await;
    }

    async fn shutdown(&self) -> RpcResult<()> {
        let state = self.state();
        state
            .doc_inflight
            .values()
            .flatten()
            .for_each(CancelFlag::cancel);
        Ok(())
    }

    async fn did_open(&self, params: DidOpenTextDocumentParams) {
        guarded_notification("didOpen", async {
            let d = params.text_document;
            let doc = Document::open(
                &d.language_id,
                uri_path(&d.uri).as_deref(),
                d.version,
                &d.text,
            );
            self.state().docs.insert(d.uri, doc);
        })
        .await;
    }

    async fn did_change(&self, params: DidChangeTextDocumentParams) {
        guarded_notification("didChange", async {
            let uri = params.text_document.uri;
            let mut state = self.state();
            let encoding = state.encoding;
            if let Some(flags) = state.doc_inflight.remove(&uri) {
                flags.iter().for_each(CancelFlag::cancel);
            }
            match state.docs.get_mut(&uri) {
                None => tracing::warn!(
                    "didChange for a document that is not open: {}",
                    uri.as_str()
                ),
                Some(doc) => {
                    if let Err(e) = doc.apply_changes(
                        params.text_document.version,
                        &params.content_changes,
                        encoding,
                    ) {
                        tracing::error!(
                            "rejected an edit of {} (version {}): {e}; keeping the last good text",
                            uri.as_str(),
                            params.text_document.version
                        );
                    }
                }
            }
        })
        .await;
    }

    async fn did_close(&self, params: DidCloseTextDocumentParams) {
        guarded_notification("didClose", async {
            let uri = params.text_document.uri;
            let mut state = self.state();
            state.docs.remove(&uri);
            state.inline_inflight.remove(&uri);
            if let Some(flags) = state.doc_inflight.remove(&uri) {
                flags.iter().for_each(CancelFlag::cancel);
            }
        })
        .await;
    }

    async fn did_change_configuration(&self, params: DidChangeConfigurationParams) {
        guarded_notification("didChangeConfiguration", async {
            self.apply_settings(&params.settings).await;
        })
        .await;
    }

    async fn completion(&self, params: CompletionParams) -> RpcResult<Option<CompletionResponse>> {
        guarded("completion", inline::completion(self, params)).await
    }

    async fn code_action(&self, params: CodeActionParams) -> RpcResult<Option<CodeActionResponse>> {
        guarded("codeAction", async { actions::list(self, params) }).await
    }

    async fn code_action_resolve(&self, action: CodeAction) -> RpcResult<CodeAction> {
        guarded("codeAction/resolve", actions::resolve(self, action)).await
    }

    async fn execute_command(&self, params: ExecuteCommandParams) -> RpcResult<Option<LSPAny>> {
        if params.command == COMMAND_STATUS {
            let status = match self.engine.status() {
                ModelStatus::NotLoaded => serde_json::json!({"state": "not_loaded"}),
                ModelStatus::Loading(m) => serde_json::json!({"state": "loading", "model": m}),
                ModelStatus::Ready(m) => serde_json::json!({"state": "ready", "model": m}),
                ModelStatus::Failed(e) => serde_json::json!({"state": "failed", "error": e}),
            };
            return Ok(Some(status));
        }
        guarded("executeCommand", actions::execute(self, params)).await
    }
}

impl Backend {
    async fn inline_completion(
        &self,
        params: InlineCompletionParams,
    ) -> RpcResult<Option<InlineCompletionResponse>> {
        guarded("inlineCompletion", inline::inline_completion(self, params)).await
    }
}

/// How long answers already being computed may still go out once the input has closed.
const CLOSED_INPUT_GRACE: std::time::Duration = std::time::Duration::from_secs(2);

/// Serves LSP on stdin/stdout until the client exits; returns the process's exit code.
pub async fn serve_stdio() -> i32 {
    let (service, socket) = LspService::build(|client| Backend {
        client,
        engine: Engine::start(),
        state: Arc::new(Mutex::new(State::default())),
    })
    .custom_method("textDocument/inlineCompletion", Backend::inline_completion)
    .finish();
    let lifecycle = Lifecycle::new();
    let guarded =
        crate::transport::guard(tokio::io::stdin(), tokio::io::stdout(), lifecycle.clone());
    let serve = Server::new(guarded.input, guarded.output, socket).serve(service);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_panicking_handler_becomes_an_internal_error() {
        let r: RpcResult<()> = guarded("test", async { panic!("boom") }).await;
        assert_eq!(
            r.unwrap_err().code,
            tower_lsp_server::jsonrpc::ErrorCode::InternalError
        );
        let r = guarded("test", async { Ok(7) }).await;
        assert_eq!(r.unwrap(), 7);
    }
}
