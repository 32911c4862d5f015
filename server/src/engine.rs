//! The engine worker: one thread owns the model and runs jobs in order, off the LSP loop.
//!
//! Requests carry everything they need (text snapshot already turned into an `InfillRequest`), so
//! `didChange` never waits for inference. Each job has a `CancelFlag` that the sampler checks
//! between steps; a job cancelled while queued is dropped without running.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{mpsc, Arc, Mutex};
use std::thread;

use dllm_models::{
    CancelFlag, CanvasCache, ChatTemplate, CodeTokenizer, DType, DiffusionModel, InfillOutput,
    InfillRequest, LoadOptions, LoadProgress, ModelSource, QuantKind, SamplerOptions,
};
use tokio::sync::oneshot;

use crate::default_model;

#[derive(Debug, Clone, PartialEq)]
pub enum ModelStatus {
    NotLoaded,
    Loading(String),
    Ready(LoadedModel),
    Failed(String),
}

/// What `dllm.status` says of a loaded model.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadedModel {
    /// The model, its family, size and weight format, in words.
    pub description: String,
    /// Bytes the weights hold in memory ([`DiffusionModel::resident_bytes`]).
    pub resident_bytes: u64,
    /// How the weights are stored: `f32`, `bf16`, `q8` or `q4`.
    pub weights: &'static str,
}

/// The name of the weight format `options` load: the quantization when there is one.
fn weight_format(options: &LoadOptions) -> &'static str {
    match (options.quantize, options.dtype) {
        (Some(QuantKind::Q8), _) => "q8",
        (Some(QuantKind::Q4), _) => "q4",
        (None, DType::BF16) => "bf16",
        (None, DType::F16) => "f16",
        (None, _) => "f32",
    }
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
    /// The engine cannot follow an instruction; says why.
    #[error("{0}")]
    NoInstructions(String),
    #[error(transparent)]
    Remote(#[from] crate::remote::RemoteError),
}

/// Where a load's progress reports go as they happen: the language server's work-done progress,
/// the command line's bar. (`dllm.status` reads the latest from [`Engine::load_progress`].)
pub type ProgressSink = Box<dyn Fn(LoadProgress) + Send + Sync>;

enum Job {
    Load {
        model: Option<String>,
        options: LoadOptions,
        progress: Option<ProgressSink>,
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
    /// How likely the model finds `text` in one span of the request
    /// (`DiffusionModel::fill_probabilities`).
    Score {
        request: Box<InfillRequest>,
        span: usize,
        text: String,
        cancel: CancelFlag,
        reply: oneshot::Sender<Result<Vec<f32>, EngineError>>,
    },
}

/// The last request's KV cache of each of the most recently used documents: as the user types,
/// the next request recomputes only what changed (`DiffusionModel::infill_reusing`).
const CACHED_DOCUMENTS: usize = 8;

#[derive(Clone)]
pub struct Engine {
    jobs: mpsc::Sender<Job>,
    status: Arc<Mutex<ModelStatus>>,
    /// How far the load in progress has got; `None` outside a load.
    progress: Arc<Mutex<Option<LoadProgress>>>,
    /// The loaded checkpoint's chat template, for prompts built off the worker thread.
    chat: Arc<Mutex<Option<ChatTemplate>>>,
    /// The loaded checkpoint's tokenizer, to size spans off the worker thread.
    tokenizer: Arc<Mutex<Option<Arc<CodeTokenizer>>>>,
}

pub(crate) fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into())
}

/// What the status and the model's description call the embedded model.
const DEFAULT_MODEL_LABEL: &str = "embedded default model";

fn label(model: Option<&str>) -> String {
    model.unwrap_or(DEFAULT_MODEL_LABEL).to_string()
}

fn load(
    model: Option<&str>,
    options: &LoadOptions,
    progress: &(dyn Fn(LoadProgress) + Sync),
) -> Result<(DiffusionModel, String), String> {
    let source = match model {
        Some(spec) => ModelSource::parse(spec),
        None => ModelSource::Dir(default_model::directory().map_err(|e| e.to_string())?),
    };
    let loaded = DiffusionModel::load_with_progress(&source, options, progress)
        .map_err(|e| e.to_string())?;
    let cfg = loaded.config();
    let description = format!(
        "{} ({:?}, {:.1}M parameters, {})",
        label(model),
        cfg.family,
        cfg.parameter_count() as f64 / 1e6,
        weight_format(options)
    );
    Ok((loaded, description))
}

/// The engine thread's state: the model, the KV caches of recent documents, and the status and
/// chat template it shares with [`Engine`].
struct Worker {
    model: Option<DiffusionModel>,
    caches: DocumentCaches,
    status: Arc<Mutex<ModelStatus>>,
    progress: Arc<Mutex<Option<LoadProgress>>>,
    chat: Arc<Mutex<Option<ChatTemplate>>>,
    tokenizer: Arc<Mutex<Option<Arc<CodeTokenizer>>>>,
}

impl Worker {
    /// Runs jobs in order until every [`Engine`] is gone.
    fn run(mut self, jobs: mpsc::Receiver<Job>) {
        for job in jobs {
            match job {
                Job::Load {
                    model,
                    options,
                    progress,
                    reply,
                } => {
                    let _ = reply.send(self.load(model.as_deref(), &options, progress));
                }
                Job::Infill {
                    request,
                    options,
                    cancel,
                    document,
                    reply,
                } => {
                    // A job cancelled while it waited is dropped without running.
                    let result = if cancel.is_cancelled() {
                        Err(EngineError::Cancelled)
                    } else {
                        self.infill(&request, &options, &cancel, document)
                    };
                    let _ = reply.send(result);
                }
                Job::Score {
                    request,
                    span,
                    text,
                    cancel,
                    reply,
                } => {
                    let result = if cancel.is_cancelled() {
                        Err(EngineError::Cancelled)
                    } else {
                        self.score(&request, span, &text)
                    };
                    let _ = reply.send(result);
                }
            }
        }
    }

    fn set_status(&self, status: ModelStatus) {
        *self.status.lock().unwrap() = status;
    }

    /// Drops the current model and loads `spec`, telling `sink` (and the shared progress) how
    /// it goes; a panic while loading is a failed load.
    fn load(
        &mut self,
        spec: Option<&str>,
        options: &LoadOptions,
        sink: Option<ProgressSink>,
    ) -> Result<String, String> {
        self.set_status(ModelStatus::Loading(label(spec)));
        self.model = None;
        self.caches.clear();
        *self.chat.lock().unwrap() = None;
        *self.tokenizer.lock().unwrap() = None;
        #[cfg(feature = "testing")]
        crate::testing::slow_load();
        let shared = &self.progress;
        let report = |p: LoadProgress| {
            *shared.lock().unwrap() = Some(p.clone());
            if let Some(sink) = &sink {
                sink(p);
            }
        };
        let result = catch_unwind(AssertUnwindSafe(|| load(spec, options, &report)))
            .unwrap_or_else(|p| Err(format!("panic while loading: {}", panic_message(p))));
        *self.progress.lock().unwrap() = None;
        match result {
            Ok((model, description)) => {
                *self.chat.lock().unwrap() = model.chat_template().cloned();
                *self.tokenizer.lock().unwrap() = Some(Arc::new(model.tokenizer().clone()));
                let loaded = LoadedModel {
                    description: description.clone(),
                    resident_bytes: model.resident_bytes() as u64,
                    weights: weight_format(options),
                };
                self.model = Some(model);
                self.set_status(ModelStatus::Ready(loaded));
                Ok(description)
            }
            Err(e) => {
                self.set_status(ModelStatus::Failed(e.clone()));
                Err(e)
            }
        }
    }

    /// Runs one request; a panic costs this request only.
    fn infill(
        &mut self,
        request: &InfillRequest,
        options: &SamplerOptions,
        cancel: &CancelFlag,
        document: Option<String>,
    ) -> Result<InfillOutput, EngineError> {
        let model = loaded(&self.model, &self.status)?;
        let caches = &mut self.caches;
        guarded(|| match document {
            None => model.infill(request, options, cancel),
            Some(doc) => {
                let mut reuse = caches.take(&doc);
                let out = model.infill_reusing(request, options, cancel, None, &mut reuse);
                caches.put(doc, reuse);
                out
            }
        })
    }

    /// Scores one request; a panic costs this request only.
    fn score(
        &self,
        request: &InfillRequest,
        span: usize,
        text: &str,
    ) -> Result<Vec<f32>, EngineError> {
        let model = loaded(&self.model, &self.status)?;
        guarded(|| model.fill_probabilities(request, span, text))
    }
}

/// The loaded model, or why there is none.
fn loaded<'m>(
    model: &'m Option<DiffusionModel>,
    status: &Mutex<ModelStatus>,
) -> Result<&'m DiffusionModel, EngineError> {
    model
        .as_ref()
        .ok_or_else(|| EngineError::NotReady(format!("{:?}", status.lock().unwrap())))
}

/// Runs `work` on the model, turning a panic into this request's error and a cancelled run
/// into [`EngineError::Cancelled`].
fn guarded<T>(work: impl FnOnce() -> dllm_models::Result<T>) -> Result<T, EngineError> {
    match catch_unwind(AssertUnwindSafe(work)) {
        Err(p) => Err(EngineError::Panicked(panic_message(p))),
        Ok(Err(dllm_models::Error::Cancelled)) => Err(EngineError::Cancelled),
        Ok(out) => Ok(out?),
    }
}

/// The last KV cache of each of the [`CACHED_DOCUMENTS`] most recently used documents, most
/// recently used last.
#[derive(Default)]
struct DocumentCaches(Vec<(String, Option<CanvasCache>)>);

impl DocumentCaches {
    /// Takes `document`'s cache out (`None` when it has none).
    fn take(&mut self, document: &str) -> Option<CanvasCache> {
        let i = self.0.iter().position(|(d, _)| d == document)?;
        self.0.remove(i).1
    }

    /// Keeps `document`'s cache as the most recently used, dropping the least recently used.
    fn put(&mut self, document: String, cache: Option<CanvasCache>) {
        if self.0.len() >= CACHED_DOCUMENTS {
            self.0.remove(0);
        }
        self.0.push((document, cache));
    }

    fn clear(&mut self) {
        self.0.clear();
    }
}

impl Engine {
    /// Starts the worker thread. No model is loaded until [`Engine::start_load`].
    pub fn start() -> Self {
        let (jobs, rx) = mpsc::channel::<Job>();
        let status = Arc::new(Mutex::new(ModelStatus::NotLoaded));
        let progress = Arc::new(Mutex::new(None));
        let chat = Arc::new(Mutex::new(None));
        let tokenizer = Arc::new(Mutex::new(None));
        let worker = Worker {
            model: None,
            caches: DocumentCaches::default(),
            status: status.clone(),
            progress: progress.clone(),
            chat: chat.clone(),
            tokenizer: tokenizer.clone(),
        };
        thread::Builder::new()
            .name("dllm-engine".into())
            .spawn(move || worker.run(rx))
            .expect("spawn the engine thread");
        Engine {
            jobs,
            status,
            progress,
            chat,
            tokenizer,
        }
    }

    pub fn status(&self) -> ModelStatus {
        self.status.lock().unwrap().clone()
    }

    /// How far the load in progress has got (downloading, then reading the weights); `None`
    /// before its first report and outside a load.
    pub fn load_progress(&self) -> Option<LoadProgress> {
        self.progress.lock().unwrap().clone()
    }

    /// The chat template of the loaded model (only instruction-following checkpoints have one).
    pub fn chat_template(&self) -> Option<ChatTemplate> {
        self.chat.lock().unwrap().clone()
    }

    /// How many tokens the loaded model's tokenizer makes of `text`; `None` without a model
    /// (or for text it cannot encode).
    pub fn count_tokens(&self, text: &str) -> Option<usize> {
        let tokenizer = self.tokenizer.lock().unwrap().clone()?;
        tokenizer.encode(text).ok().map(|ids| ids.len())
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
        self.start_load_reporting(model, options, None)
    }

    /// [`start_load`](Self::start_load), with each progress report also sent to `progress`.
    pub fn start_load_reporting(
        &self,
        model: Option<String>,
        options: LoadOptions,
        progress: Option<ProgressSink>,
    ) -> oneshot::Receiver<Result<String, String>> {
        *self.status.lock().unwrap() = ModelStatus::Loading(label(model.as_deref()));
        *self.progress.lock().unwrap() = None;
        let (reply, rx) = oneshot::channel();
        if self
            .jobs
            .send(Job::Load {
                model,
                options,
                progress,
                reply,
            })
            .is_err()
        {
            *self.status.lock().unwrap() = ModelStatus::Failed("the engine worker stopped".into());
        }
        rx
    }

    /// Loads (or replaces) the model and waits until it is ready or failed.
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

    /// How likely the model finds `text` in span `span` of `request`, every span masked and
    /// as long as `text`: each of its tokens' probability, from one pass.
    pub async fn fill_probabilities(
        &self,
        request: InfillRequest,
        span: usize,
        text: String,
        cancel: CancelFlag,
    ) -> Result<Vec<f32>, EngineError> {
        let (reply, rx) = oneshot::channel();
        let _ = self.jobs.send(Job::Score {
            request: Box::new(request),
            span,
            text,
            cancel,
            reply,
        });
        rx.await.map_err(|_| EngineError::WorkerGone)?
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
