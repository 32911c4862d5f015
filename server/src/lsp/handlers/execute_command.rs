//! `workspace/executeCommand` for the editing commands (`dllm.rewrite`, `dllm.fillHoles`,
//! `dllm.completeBlock`): the edit is computed, then sent with `workspace/applyEdit`.

use std::time::Duration;

use tower_lsp_server::ls_types::{ExecuteCommandParams, WorkspaceEdit};

use crate::lsp::actions::{compute, Computed};
use crate::lsp::backend::Backend;
use crate::lsp::command::{Command, CommandOutcome};
use crate::lsp::error::LspResult;
use crate::lsp::from_proto;

/// How long a command waits for the client to answer `workspace/applyEdit`: a client that
/// never answers must not hold the handler (and its request) forever.
pub(crate) const APPLY_EDIT_WAIT: Duration = Duration::from_secs(10);

pub(crate) async fn execute_command(
    backend: &Backend,
    command: Command,
    params: ExecuteCommandParams,
) -> LspResult<CommandOutcome> {
    let args = from_proto::command_args(command, &params.arguments)?;
    let snap = backend.snapshot(&args.uri)?;
    let task = from_proto::command_task(&snap, command, args)?;
    Ok(match compute(backend, &snap, &task).await? {
        Computed::Edit { edit, notes, .. } => CommandOutcome {
            applied: apply_edit(backend, command, edit).await,
            notes,
        },
        Computed::Nothing(why) => CommandOutcome {
            applied: false,
            notes: vec![why],
        },
    })
}

/// Sends the edit to the client; whether it applied it within [`APPLY_EDIT_WAIT`].
async fn apply_edit(backend: &Backend, command: Command, edit: WorkspaceEdit) -> bool {
    let answer = tokio::time::timeout(APPLY_EDIT_WAIT, backend.client.apply_edit(edit)).await;
    match answer {
        Ok(Ok(response)) => {
            if !response.applied {
                let why = response
                    .failure_reason
                    .as_deref()
                    .unwrap_or("no reason given");
                tracing::info!("{command}: the client did not apply the edit: {why}");
            }
            response.applied
        }
        Ok(Err(e)) => {
            tracing::warn!("{command}: workspace/applyEdit failed: {e}");
            false
        }
        Err(_) => {
            tracing::warn!(
                "{command}: the client did not answer workspace/applyEdit within {APPLY_EDIT_WAIT:?}"
            );
            false
        }
    }
}
