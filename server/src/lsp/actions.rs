//! Code actions (listed cheaply, computed in `codeAction/resolve`) and the `dllm.*` commands.
//! Each answers with one versioned WorkspaceEdit that replaces whole blocks.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tower_lsp_server::jsonrpc::{ErrorCode, Result as RpcResult};
use tower_lsp_server::ls_types::*;

use super::protocol::{classify, content_modified, error, workspace_edit, Failure};
use super::{
    invalid_params, Backend, CancelOnDrop, COMMAND_COMPLETE_BLOCK, COMMAND_FILL_HOLES,
    COMMAND_REWRITE,
};
use crate::pipeline::{self, Task};

/// Everything `codeAction/resolve` needs; nothing is looked up by title.
#[derive(Debug, Serialize, Deserialize)]
struct ActionData {
    uri: Uri,
    version: i32,
    task: Task,
}

pub fn list(backend: &Backend, params: CodeActionParams) -> RpcResult<Option<CodeActionResponse>> {
    let uri = params.text_document.uri;
    let (snapshot, enc, config, doc) = backend.snapshot_with_doc(&uri)?;
    if !config.language_enabled(&snapshot.language_id) {
        return Ok(None);
    }
    let range = doc
        .byte_range(params.range, enc)
        .map_err(|e| invalid_params(e.to_string()))?;
    let candidates = if range.is_empty() {
        vec![
            Task::FillHoles {
                offset: Some(range.start),
            },
            Task::CompleteBlock {
                offset: range.start,
            },
            Task::Rename {
                offset: range.start,
            },
        ]
    } else {
        vec![
            Task::Rewrite {
                start: range.start,
                end: range.end,
                instruction: None,
            },
            Task::FillHoles {
                offset: Some(range.start),
            },
        ]
    };
    let actions = candidates
        .into_iter()
        .filter(|task| pipeline::plan(&snapshot, task, &config).is_ok())
        .map(|task| {
            let kind = match task {
                Task::FillHoles { .. } => CodeActionKind::QUICKFIX,
                _ => CodeActionKind::REFACTOR_REWRITE,
            };
            let data = ActionData {
                uri: uri.clone(),
                version: doc.version,
                task: task.clone(),
            };
            CodeActionOrCommand::CodeAction(CodeAction {
                title: format!("{} (dllm)", task.title()),
                kind: Some(kind),
                data: serde_json::to_value(data).ok(),
                ..Default::default()
            })
        })
        .collect::<Vec<_>>();
    Ok(Some(actions))
}

/// Runs a task on the current text of `uri` (which must still be at `version`) and returns the
/// versioned edit, or `None` with the reason when there is nothing to offer.
async fn compute(
    backend: &Backend,
    uri: &Uri,
    version: Option<i32>,
    task: Task,
) -> RpcResult<Result<(WorkspaceEdit, Vec<String>), String>> {
    let (snapshot, enc, config, doc) = backend.snapshot_with_doc(uri)?;
    if version.is_some_and(|v| v != doc.version) {
        return Err(content_modified());
    }
    if !backend.engine.is_ready() {
        return Ok(Err(format!(
            "the model is not ready ({:?})",
            backend.engine.status()
        )));
    }
    let cancel = backend.track(uri);
    let _guard = CancelOnDrop(cancel.clone());
    match pipeline::run(&backend.engine, &snapshot, &task, &config, &cancel).await {
        Ok(outcome) if outcome.edits.is_empty() => Ok(Err(outcome.notes.join("; "))),
        Ok(outcome) => {
            tracing::info!(
                "{}: {} edit(s), {} steps, {} repair round(s), {:.0} ms",
                task.title(),
                outcome.edits.len(),
                outcome.steps,
                outcome.repairs,
                outcome.total_time.as_secs_f64() * 1e3
            );
            match workspace_edit(uri, doc.version, &doc, &outcome.edits, enc) {
                Some(edit) => Ok(Ok((edit, outcome.notes))),
                None => Ok(Err("no edit fitted the document".into())),
            }
        }
        Err(e) => match classify(e) {
            Failure::Empty(why) => Ok(Err(why)),
            Failure::Error(err) => Err(err),
        },
    }
}

pub async fn resolve(backend: &Backend, mut action: CodeAction) -> RpcResult<CodeAction> {
    let data: ActionData = action
        .data
        .clone()
        .and_then(|d| serde_json::from_value(d).ok())
        .ok_or_else(|| invalid_params("this code action has no dllm data to resolve"))?;
    match compute(backend, &data.uri, Some(data.version), data.task).await? {
        Ok((edit, _notes)) => {
            action.edit = Some(edit);
            Ok(action)
        }
        Err(why) => {
            tracing::info!("{}: {why}", action.title);
            Err(error(
                ErrorCode::ServerError(-32803),
                format!("dllm-ls: {why}; nothing changed"),
            ))
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CommandArgs {
    uri: Uri,
    range: Option<Range>,
    position: Option<Position>,
    instruction: Option<String>,
}

/// `dllm.rewrite {uri, range, instruction?}`, `dllm.fillHoles {uri, position?}`,
/// `dllm.completeBlock {uri, position}`: computed, then sent with `workspace/applyEdit`.
pub async fn execute(backend: &Backend, params: ExecuteCommandParams) -> RpcResult<Option<Value>> {
    let args: CommandArgs = params
        .arguments
        .first()
        .cloned()
        .and_then(|a| serde_json::from_value(a).ok())
        .ok_or_else(|| {
            invalid_params(format!(
                "{} takes one argument {{uri, range?, position?, instruction?}}",
                params.command
            ))
        })?;
    let (_, enc, _, doc) = backend.snapshot_with_doc(&args.uri)?;
    let offset = |p: Option<Position>| -> RpcResult<Option<usize>> {
        p.map(|p| {
            doc.offset(p, enc)
                .map_err(|e| invalid_params(e.to_string()))
        })
        .transpose()
    };
    let task = match params.command.as_str() {
        COMMAND_REWRITE => {
            let range = args
                .range
                .ok_or_else(|| invalid_params("dllm.rewrite needs a range"))?;
            let bytes = doc
                .byte_range(range, enc)
                .map_err(|e| invalid_params(e.to_string()))?;
            Task::Rewrite {
                start: bytes.start,
                end: bytes.end,
                instruction: args.instruction,
            }
        }
        COMMAND_FILL_HOLES => Task::FillHoles {
            offset: offset(args.position.or(args.range.map(|r| r.start)))?,
        },
        COMMAND_COMPLETE_BLOCK => Task::CompleteBlock {
            offset: offset(args.position.or(args.range.map(|r| r.start)))?
                .ok_or_else(|| invalid_params("dllm.completeBlock needs a position"))?,
        },
        other => return Err(invalid_params(format!("unknown command {other}"))),
    };
    match compute(backend, &args.uri, None, task).await? {
        Ok((edit, notes)) => {
            let applied = backend
                .client
                .apply_edit(edit)
                .await
                .map(|r| r.applied)
                .unwrap_or(false);
            Ok(Some(
                serde_json::json!({"applied": applied, "notes": notes}),
            ))
        }
        Err(why) => Ok(Some(serde_json::json!({"applied": false, "notes": [why]}))),
    }
}
