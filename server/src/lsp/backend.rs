//! `Backend`: the client handle, the engine and the shared state, with the accessors handlers
//! use, and model loading (at `initialized`, and when settings name another model).

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use dllm_models::LoadProgress;
use tower_lsp_server::ls_types::{MessageType, ProgressToken, Uri};
use tower_lsp_server::{Bounded, Client, NotCancellable, OngoingProgress};

use super::command::LoadingProgress;
use super::error::LspResult;
use super::snapshot::DocumentSnapshot;
use super::state::State;
use crate::config::Config;
use crate::engine::Engine;
use crate::infiller::Infiller;
use crate::remote::{RemoteEngine, SharedStatus};

/// How long a load waits for the client to accept a progress report.
const PROGRESS_ANSWER_WAIT: Duration = Duration::from_secs(5);

pub struct Backend {
    pub(crate) client: Client,
    pub(crate) engine: Engine,
    pub(crate) state: Arc<Mutex<State>>,
    /// How the remote engine has fared, across requests and settings changes.
    pub(crate) remote_status: SharedStatus,
}

impl Backend {
    pub(crate) fn new(client: Client) -> Self {
        Backend {
            client,
            engine: Engine::start(),
            state: Arc::new(Mutex::new(State::default())),
            remote_status: SharedStatus::default(),
        }
    }

    /// What infills requests made with `config`: the local model, or the remote engine it
    /// names.
    pub(crate) fn infiller(&self, config: &Config) -> Infiller {
        match config.remote() {
            Some(settings) => {
                Infiller::Remote(RemoteEngine::new(settings, self.remote_status.clone()))
            }
            None => Infiller::Local(self.engine.clone()),
        }
    }

    /// Shows the remote engine's pending message (a refused or missing key), once.
    pub(crate) async fn show_remote_message(&self) {
        let message = self
            .remote_status
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take_message();
        if let Some(message) = message {
            self.client
                .show_message(MessageType::ERROR, format!("dllm-ls: {message}"))
                .await;
        }
    }

    /// The shared state. A panic while it was held (caught by the dispatch's guard) does not
    /// make it unusable: the state is only ever changed whole, so the last value is still
    /// consistent.
    pub(crate) fn state(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// A snapshot of the open document `uri` (invalid params if it is not open).
    pub(crate) fn snapshot(&self, uri: &Uri) -> LspResult<DocumentSnapshot> {
        self.state().snapshot(uri)
    }

    /// Shows each settings warning to the user, and logs it.
    pub(crate) async fn show_warnings(&self, warnings: &[String]) {
        for warning in warnings {
            tracing::warn!("{warning}");
            self.client
                .show_message(MessageType::WARNING, format!("dllm-ls: {warning}"))
                .await;
        }
    }

    /// Loads the model the settings name, reporting progress where the client shows it. A
    /// model that fails to load is a status and a message, not an error.
    pub(crate) async fn load_model(&self) {
        let (model, options) = {
            let state = self.state();
            (state.config.model.clone(), state.config.load_options())
        };
        let label = model
            .clone()
            .unwrap_or_else(|| "embedded default model".into());
        // Queue the load before anything awaits, so the status says "loading" from now on.
        let (reports, mut reported) = tokio::sync::mpsc::unbounded_channel::<LoadProgress>();
        let sink = Box::new(move |p: LoadProgress| {
            let _ = reports.send(p);
        });
        let mut done = self.engine.start_load_reporting(model, options, Some(sink));
        let progress = self.begin_progress(format!("loading {label}")).await;
        // The worker sends every report before its answer, so taking reports first shows the
        // last one (100%) before the end.
        let loaded = loop {
            tokio::select! {
                biased;
                Some(report) = reported.recv() => {
                    if let Some(p) = &progress {
                        let report = LoadingProgress::from(report);
                        p.report_with_message(report.message(), report.percent.into()).await;
                    }
                }
                answer = &mut done => {
                    break answer.unwrap_or_else(|_| Err("the engine worker stopped".into()));
                }
            }
        };
        match loaded {
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
    ) -> Option<OngoingProgress<Bounded, NotCancellable>> {
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
                    .with_percentage(0)
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
}
