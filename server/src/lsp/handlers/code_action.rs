//! `textDocument/codeAction`: lists the tasks that can be planned at the cursor or selection,
//! cheaply (no model); `codeAction/resolve` computes the edit.

use std::ops::Range;

use tower_lsp_server::ls_types::{CodeActionParams, CodeActionResponse};

use crate::lsp::actions::ActionData;
use crate::lsp::error::LspResult;
use crate::lsp::snapshot::DocumentSnapshot;
use crate::lsp::{from_proto, to_proto};
use crate::pipeline::{self, Task};

pub(crate) fn code_action(
    snap: DocumentSnapshot,
    params: CodeActionParams,
) -> LspResult<Option<CodeActionResponse>> {
    if !snap.language_enabled() {
        return Ok(None);
    }
    let range = from_proto::byte_range(&snap, params.range)?;
    // A rename ties every place to one name, which only the local model can do.
    let remote = snap.config.remote().is_some();
    let actions = candidates(range)
        .into_iter()
        .filter(|task| !(remote && matches!(task, Task::Rename { .. })))
        .filter(|task| pipeline::plan(&snap.pipeline, task, &snap.config).is_ok())
        .map(|task| to_proto::code_action(ActionData::new(&snap, task)))
        .collect();
    Ok(Some(actions))
}

/// What may be asked at a cursor, or of a selection.
fn candidates(range: Range<usize>) -> Vec<Task> {
    let offset = range.start;
    if range.is_empty() {
        vec![
            Task::FillHoles {
                offset: Some(offset),
            },
            Task::CompleteBlock { offset },
            Task::Rename { offset },
        ]
    } else {
        vec![
            Task::Rewrite {
                start: range.start,
                end: range.end,
                instruction: None,
            },
            Task::FillHoles {
                offset: Some(offset),
            },
        ]
    }
}
