//! What `textDocument/inlineCompletion` and `textDocument/completion` share: one suggestion at
//! the cursor, with the code after it in view.

use tower_lsp_server::ls_types::{Position, Range, Uri};

use super::backend::Backend;
use super::error::{classify, Failure, LspResult};
use super::from_proto;
use super::loading;
use super::state::CancelOnDrop;
use super::to_proto;
use crate::gate::{self, Verdict};
use crate::pipeline::{self, Outcome, PipelineError, Task};

/// The text to show at the cursor and the single-line range it replaces.
pub(crate) struct Suggestion {
    pub text: String,
    pub range: Range,
    pub ms: f64,
}

/// The suggestion at `position`, once the model has loaded ([`loading::model_ready`]); `None`
/// when there is nothing to offer (language off, no model, nothing to complete, an answer
/// withheld, by the pipeline or by the confidence gate).
pub(crate) async fn suggest(
    backend: &Backend,
    uri: &Uri,
    position: Position,
) -> LspResult<Option<Suggestion>> {
    let snap = backend.snapshot(uri)?;
    let infiller = backend.infiller(&snap.config);
    if !snap.language_enabled() {
        return Ok(None);
    }
    let offset = from_proto::offset(&snap, position)?;
    let cancel = backend.state().track_inline(uri);
    let _guard = CancelOnDrop(cancel.clone());
    if let Some(unready) = loading::ready(&infiller, &cancel).await? {
        tracing::info!("inline completion: {}", unready.message());
        return Ok(None);
    }
    let task = Task::Inline { offset };
    let run = pipeline::run(&infiller, &snap.pipeline, &task, &snap.config, &cancel);
    let outcome = run.await;
    backend.show_remote_message().await;
    let Some(outcome) = offered(outcome)? else {
        return Ok(None);
    };
    if !passes_gate(backend, &outcome, snap.config.min_confidence) {
        return Ok(None);
    }
    let Some(edit) = outcome.edits.into_iter().next() else {
        return Ok(None);
    };
    let ms = outcome.total_time.as_secs_f64() * 1e3;
    tracing::info!(
        "inline completion: {} bytes, {} steps, confidence {}, model {:.0} ms, total {ms:.0} ms",
        edit.text.len(),
        outcome.steps,
        outcome
            .confidence
            .map_or("unknown".into(), |c| format!("{c:.3}")),
        outcome.model_time.as_secs_f64() * 1e3,
    );
    let edit = to_proto::inline_edit(&snap.doc, edit, offset, snap.encoding);
    Ok(edit.map(|e| Suggestion {
        text: e.new_text,
        range: e.range,
        ms,
    }))
}

/// Whether the confidence gate shows the outcome's suggestion; a withheld one is counted and
/// logged with why and how many have been withheld so far.
fn passes_gate(backend: &Backend, outcome: &Outcome, threshold: f32) -> bool {
    let verdict = gate::judge(outcome.confidence, threshold);
    let counts = backend.state().gate.record(&verdict);
    match verdict {
        Verdict::Withheld {
            confidence,
            threshold,
        } => {
            tracing::info!(
                "inline completion withheld: confidence {confidence:.3} is below minConfidence \
                 {threshold:.3} ({} withheld for low confidence, {} shown, {} unscored so far)",
                counts.withheld,
                counts.shown,
                counts.unscored
            );
            false
        }
        Verdict::Shown | Verdict::Unscored => true,
    }
}

/// The outcome if it has edits; `None`, with the reason logged, when there is nothing to offer.
fn offered(outcome: Result<Outcome, PipelineError>) -> LspResult<Option<Outcome>> {
    match outcome {
        Ok(o) if o.edits.is_empty() => {
            tracing::debug!("inline completion: {}", o.notes.join("; "));
            Ok(None)
        }
        Ok(o) => Ok(Some(o)),
        Err(e) => match classify(e) {
            Failure::Empty(why) => {
                tracing::debug!("inline completion: {why}");
                Ok(None)
            }
            Failure::Error(err) => Err(err),
        },
    }
}
