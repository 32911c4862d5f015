//! Requests that arrive while the model loads wait for it, so the first suggestion after opening
//! an editor is a real one, not an empty answer. They wait up to [`LOAD_WAIT`]; a cancel flag
//! set meanwhile (`$/cancelRequest`, an edit of the document, a newer inline request) ends the
//! wait at once, so a keystroke's replaced inline request is dropped, not queued behind the load.

use std::time::{Duration, Instant};

use dllm_models::CancelFlag;

use super::error::{LspError, LspResult};
use crate::engine::{Engine, ModelStatus};
use crate::infiller::Infiller;

/// How long a request waits for a loading model. A checkpoint on a fast disk loads within it
/// (the 7B ones in about 10-20 s); a download or a slow disk takes longer, and the request then
/// gets a "still loading" answer rather than keeping the editor waiting without a word.
pub(crate) const LOAD_WAIT: Duration = Duration::from_secs(30);

/// How often a waiting request looks at the model's status and its cancel flag.
const POLL: Duration = Duration::from_millis(20);

/// Why a request cannot run on the model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Unready {
    /// The request was cancelled or replaced while it waited.
    Cancelled,
    /// The model was still loading when the wait ran out.
    StillLoading { model: String, waited: Duration },
    /// No model to wait for: none configured yet, or its load failed.
    Unavailable(String),
}

impl Unready {
    /// What the user is told (code actions, commands) and the log says.
    pub(crate) fn message(&self) -> String {
        match self {
            Unready::Cancelled => "cancelled while the model loaded".into(),
            Unready::StillLoading { model, waited } => format!(
                "the model is still loading ({model}) after {} s; ask again once `dllm.status` says ready",
                waited.as_secs_f64().round()
            ),
            Unready::Unavailable(why) => format!("the model is not ready ({why})"),
        }
    }
}

/// Waits for `infiller`'s model where it has one to load (a remote engine is always there to
/// ask): `None` once it can answer, why not otherwise; a cancellation while waiting is the
/// request's cancelled error.
pub(crate) async fn ready(infiller: &Infiller, cancel: &CancelFlag) -> LspResult<Option<Unready>> {
    let Some(engine) = infiller.loading_engine() else {
        return Ok(None);
    };
    match model_ready(engine, cancel).await {
        Ok(()) => Ok(None),
        Err(Unready::Cancelled) => Err(LspError::cancelled()),
        Err(unready) => Ok(Some(unready)),
    }
}

/// Returns once the model is ready; waits while it loads, up to [`load_wait`].
pub(crate) async fn model_ready(engine: &Engine, cancel: &CancelFlag) -> Result<(), Unready> {
    let wait = load_wait();
    let started = Instant::now();
    let mut logged = false;
    loop {
        if cancel.is_cancelled() {
            return Err(Unready::Cancelled);
        }
        match engine.status() {
            ModelStatus::Ready(_) => return Ok(()),
            // Not loaded: `initialized`, which starts the load, may still be on its way.
            ModelStatus::NotLoaded if started.elapsed() >= wait => {
                return Err(Unready::Unavailable("no model has started loading".into()))
            }
            ModelStatus::NotLoaded => {}
            ModelStatus::Loading(model) if started.elapsed() >= wait => {
                return Err(Unready::StillLoading {
                    model,
                    waited: started.elapsed(),
                })
            }
            ModelStatus::Loading(model) => {
                if !logged {
                    tracing::debug!("a request waits for the model to load ({model})");
                    logged = true;
                }
            }
            ModelStatus::Failed(error) => {
                return Err(Unready::Unavailable(format!("it failed to load: {error}")))
            }
        }
        tokio::time::sleep(POLL).await;
    }
}

/// [`LOAD_WAIT`], or in a test build the wait a test asks for.
fn load_wait() -> Duration {
    #[cfg(feature = "testing")]
    if let Some(wait) = crate::testing::load_wait() {
        return wait;
    }
    LOAD_WAIT
}
