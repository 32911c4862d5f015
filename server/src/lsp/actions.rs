//! What code actions and the editing commands share: the data an action is listed with, and
//! the computation of one versioned WorkspaceEdit for a task.

use serde::{Deserialize, Serialize};
use tower_lsp_server::ls_types::{Uri, WorkspaceEdit};

use super::backend::Backend;
use super::error::{classify, Failure, LspResult};
use super::loading;
use super::snapshot::DocumentSnapshot;
use super::state::CancelOnDrop;
use super::to_proto;
use crate::gate::{self, Verdict};
use crate::pipeline::{self, Task};

/// Everything `codeAction/resolve` needs; nothing is looked up by title. The action is current
/// only while the document is at the same version of the same opening.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct ActionData {
    pub uri: Uri,
    pub version: i32,
    pub generation: u64,
    pub task: Task,
}

impl ActionData {
    pub(crate) fn new(snap: &DocumentSnapshot, task: Task) -> Self {
        ActionData {
            uri: snap.uri.clone(),
            version: snap.doc.version,
            generation: snap.generation,
            task,
        }
    }

    /// Whether `snap` holds the very text this action was listed on.
    pub(crate) fn is_current(&self, snap: &DocumentSnapshot) -> bool {
        self.uri == snap.uri
            && self.version == snap.doc.version
            && self.generation == snap.generation
    }
}

/// A task's result: an edit, with the pipeline's notes and what the confidence gate made of it
/// (the user asked, so a doubtful edit is still given, with a note), or why there is none.
pub(crate) enum Computed {
    Edit {
        edit: WorkspaceEdit,
        notes: Vec<String>,
        verdict: Verdict,
    },
    Nothing(String),
}

/// Runs `task` on `snap` once the model has loaded ([`loading::model_ready`]) and returns the
/// edit, versioned for `snap`'s text.
pub(crate) async fn compute(
    backend: &Backend,
    snap: &DocumentSnapshot,
    task: &Task,
) -> LspResult<Computed> {
    let infiller = backend.infiller(&snap.config);
    let cancel = backend.state().track(&snap.uri);
    let _guard = CancelOnDrop(cancel.clone());
    if let Some(unready) = loading::ready(&infiller, &cancel).await? {
        return Ok(Computed::Nothing(unready.message()));
    }
    let run = pipeline::run(&infiller, &snap.pipeline, task, &snap.config, &cancel);
    let outcome = run.await;
    backend.show_remote_message().await;
    match outcome {
        Ok(outcome) if outcome.edits.is_empty() => Ok(Computed::Nothing(outcome.notes.join("; "))),
        Ok(outcome) => {
            tracing::info!(
                "{}: {} edit(s), {} steps, {} repair round(s), {:.0} ms",
                task.title(),
                outcome.edits.len(),
                outcome.steps,
                outcome.repairs,
                outcome.total_time.as_secs_f64() * 1e3
            );
            let verdict = gate::judge(outcome.confidence, snap.config.min_confidence);
            let mut notes = outcome.notes;
            notes.extend(verdict.low_confidence_note());
            let edit =
                to_proto::workspace_edit(&snap.uri, &snap.doc, &outcome.edits, snap.encoding);
            Ok(match edit {
                Some(edit) => Computed::Edit {
                    edit,
                    notes,
                    verdict,
                },
                None => Computed::Nothing("no edit fitted the document".into()),
            })
        }
        Err(e) => match classify(e) {
            Failure::Empty(why) => Ok(Computed::Nothing(why)),
            Failure::Error(err) => Err(err),
        },
    }
}
