//! The engine worker: one thread owns the model and runs jobs in order, off the LSP loop.
//!
//! Requests carry everything they need (text snapshot already turned into an `InfillRequest`), so
//! `didChange` never waits for inference. Each job has a `CancelFlag` that the sampler checks
//! between steps; a job cancelled while queued is dropped without running.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{mpsc, Arc, Mutex};
use std::thread;

use dllm_models::{
    CancelFlag, CanvasCache, ChatTemplate, DiffusionModel, InfillOutput, InfillRequest,
    LoadOptions, ModelSource, SamplerOptions,
};
use tokio::sync::oneshot;

use crate::default_model;

#[derive(Debug, Clone, PartialEq)]
pub enum ModelStatus {
    NotLoaded,
    Loading(String),
    Ready(String),
    Failed(String),
}

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("the model is not ready: {0}")]
    NotReady(String),
    #[error("cancelled")]
    Cancelled,
    #[error(transparent)]
    Model(#[from] dllm_models::Error),
    #[error("the engine worker stopped")]
    WorkerGone,
    #[error("the engine panicked: {0}")]
    Panicked(String),
}

enum Job {
    Load {
        model: Option<String>,
        options: LoadOptions,
        reply: oneshot::Sender<Result<String, String>>,
    },
    Infill {
        request: Box<InfillRequest>,
        options: SamplerOptions,
        cancel: CancelFlag,
        /// The document, for the cross-request KV cache.
        document: Option<String>,
        reply: oneshot::Sender<Result<InfillOutput, EngineError>>,
    },
}

/// The last request's KV cache of each of the most recently used documents: as the user types,
/// the next request recomputes only what changed (`DiffusionModel::infill_reusing`).
const CACHED_DOCUMENTS: usize = 8;

#[derive(Clone)]
pub struct Engine {
    jobs: mpsc::Sender<Job>,
    status: Arc<Mutex<ModelStatus>>,
    /// The loaded checkpoint's chat template, for prompts built off the worker thread.
    chat: Arc<Mutex<Option<ChatTemplate>>>,
}

pub(crate) fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into())
}

fn load(model: Option<&str>, options: &LoadOptions) -> Result<(DiffusionModel, String), String> {
    let source = match model {
        Some(spec) => ModelSource::parse(spec),
        None => ModelSource::Dir(default_model::directory().map_err(|e| e.to_string())?),
    };
    let loaded = DiffusionModel::load(&source, options).map_err(|e| e.to_string())?;
    let dtype = options.dtype;
    let cfg = loaded.config();
    let name = model
        .map(str::to_string)
        .unwrap_or_else(|| "embedded default model".into());
    let description = format!(
        "{name} ({:?}, {:.1}M parameters, {dtype:?})",
        cfg.family,
        cfg.parameter_count() as f64 / 1e6
    );
    Ok((loaded, description))
}

impl Engine {
    /// Starts the worker thread. No model is loaded until [`Engine::load`].
    pub fn start() -> Self {
        let (jobs, rx) = mpsc::channel::<Job>();
        let status = Arc::new(Mutex::new(ModelStatus::NotLoaded));
        let worker_status = status.clone();
        let chat = Arc::new(Mutex::new(None));
        let worker_chat = chat.clone();
        thread::Builder::new()
            .name("dllm-engine".into())
            .spawn(move || {
                let mut model: Option<DiffusionModel> = None;
                // (document, its last cache), most recently used last.
                let mut caches: Vec<(String, Option<CanvasCache>)> = Vec::new();
                for job in rx {
                    match job {
                        Job::Load {
                            model: spec,
                            options,
                            reply,
                        } => {
                            let label = spec
                                .clone()
                                .unwrap_or_else(|| "embedded default model".into());
                            *worker_status.lock().unwrap() = ModelStatus::Loading(label);
                            model = None;
                            caches.clear();
                            *worker_chat.lock().unwrap() = None;
                            let result = catch_unwind(|| load(spec.as_deref(), &options))
                                .unwrap_or_else(|p| {
                                    Err(format!("panic while loading: {}", panic_message(p)))
                                });
                            let outcome = match result {
                                Ok((m, description)) => {
                                    *worker_chat.lock().unwrap() = m.chat_template().cloned();
                                    model = Some(m);
                                    *worker_status.lock().unwrap() =
                                        ModelStatus::Ready(description.clone());
                                    Ok(description)
                                }
                                Err(e) => {
                                    *worker_status.lock().unwrap() = ModelStatus::Failed(e.clone());
                                    Err(e)
                                }
                            };
                            let _ = reply.send(outcome);
                        }
                        Job::Infill {
                            request,
                            options,
                            cancel,
                            document,
                            reply,
                        } => {
                            if cancel.is_cancelled() {
                                let _ = reply.send(Err(EngineError::Cancelled));
                                continue;
                            }
                            let result = match &model {
                                None => Err(EngineError::NotReady(format!(
                                    "{:?}",
                                    worker_status.lock().unwrap()
                                ))),
                                Some(m) => catch_unwind(AssertUnwindSafe(|| {
                                    let Some(doc) = document else {
                                        return m.infill(&request, &options, &cancel);
                                    };
                                    let mut reuse = match caches.iter().position(|(d, _)| *d == doc)
                                    {
                                        Some(i) => caches.remove(i).1,
                                        None => None,
                                    };
                                    let out = m.infill_reusing(
                                        &request, &options, &cancel, None, &mut reuse,
                                    );
                                    if caches.len() >= CACHED_DOCUMENTS {
                                        caches.remove(0);
                                    }
                                    caches.push((doc, reuse));
                                    out
                                }))
                                .map_err(|p| EngineError::Panicked(panic_message(p)))
                                .and_then(|r| {
                                    r.map_err(|e| match e {
                                        dllm_models::Error::Cancelled => EngineError::Cancelled,
                                        e => EngineError::Model(e),
                                    })
                                }),
                            };
                            let _ = reply.send(result);
                        }
                    }
                }
            })
            .expect("spawn the engine thread");
        Engine { jobs, status, chat }
    }

    pub fn status(&self) -> ModelStatus {
        self.status.lock().unwrap().clone()
    }

    /// The chat template of the loaded model (only instruction-following checkpoints have one).
    pub fn chat_template(&self) -> Option<ChatTemplate> {
        self.chat.lock().unwrap().clone()
    }

    pub fn is_ready(&self) -> bool {
        matches!(self.status(), ModelStatus::Ready(_))
    }

    /// Queues loading (or replacing) the model. The status says "loading" from this call on,
    /// so nobody sees the previous state while the job waits its turn.
    pub fn start_load(
        &self,
        model: Option<String>,
        options: LoadOptions,
    ) -> oneshot::Receiver<Result<String, String>> {
        let label = model
            .clone()
            .unwrap_or_else(|| "embedded default model".into());
        *self.status.lock().unwrap() = ModelStatus::Loading(label);
        let (reply, rx) = oneshot::channel();
        if self
            .jobs
            .send(Job::Load {
                model,
                options,
                reply,
            })
            .is_err()
        {
            *self.status.lock().unwrap() = ModelStatus::Failed("the engine worker stopped".into());
        }
        rx
    }

    /// Loads (or replaces) the model; resolves when it is ready or failed.
    pub async fn load(
        &self,
        model: Option<String>,
        options: LoadOptions,
    ) -> Result<String, String> {
        self.start_load(model, options)
            .await
            .map_err(|_| "the engine worker stopped".to_string())?
    }

    pub fn load_blocking(
        &self,
        model: Option<String>,
        options: LoadOptions,
    ) -> Result<String, String> {
        self.start_load(model, options)
            .blocking_recv()
            .map_err(|_| "the engine worker stopped".to_string())?
    }

    fn submit(
        &self,
        request: InfillRequest,
        options: SamplerOptions,
        cancel: CancelFlag,
        document: Option<String>,
    ) -> oneshot::Receiver<Result<InfillOutput, EngineError>> {
        let (reply, rx) = oneshot::channel();
        // A send error drops `reply`, which the receiver reports as WorkerGone.
        let _ = self.jobs.send(Job::Infill {
            request: Box::new(request),
            options,
            cancel,
            document,
            reply,
        });
        rx
    }

    pub async fn infill(
        &self,
        request: InfillRequest,
        options: SamplerOptions,
        cancel: CancelFlag,
    ) -> Result<InfillOutput, EngineError> {
        self.infill_in(request, options, cancel, None).await
    }

    /// [`infill`](Self::infill) for a document: its previous request's KV cache is reused where
    /// the text is unchanged (with `options.kv_cache`).
    pub async fn infill_in(
        &self,
        request: InfillRequest,
        options: SamplerOptions,
        cancel: CancelFlag,
        document: Option<String>,
    ) -> Result<InfillOutput, EngineError> {
        self.submit(request, options, cancel, document)
            .await
            .map_err(|_| EngineError::WorkerGone)?
    }

    /// The blocking form, for the CLI.
    pub fn infill_blocking(
        &self,
        request: InfillRequest,
        options: SamplerOptions,
        cancel: CancelFlag,
    ) -> Result<InfillOutput, EngineError> {
        self.submit(request, options, cancel, None)
            .blocking_recv()
            .map_err(|_| EngineError::WorkerGone)?
    }
}
