//! LSP types in, the server's plain types out: positions and ranges to byte offsets of the
//! snapshot, command names and arguments to [`Command`] and [`Task`], resolve data to
//! [`ActionData`]. Anything that does not convert is invalid params.

use std::ops::Range as Bytes;

use serde_json::Value;
use tower_lsp_server::ls_types::{CodeAction, Position, Range};

use super::actions::ActionData;
use super::command::{Command, CommandArgs};
use super::error::{LspError, LspResult};
use super::snapshot::DocumentSnapshot;
use crate::pipeline::Task;

pub(crate) fn offset(snap: &DocumentSnapshot, position: Position) -> LspResult<usize> {
    snap.doc
        .offset(position, snap.encoding)
        .map_err(|e| LspError::invalid_params(e.to_string()))
}

pub(crate) fn byte_range(snap: &DocumentSnapshot, range: Range) -> LspResult<Bytes<usize>> {
    snap.doc
        .byte_range(range, snap.encoding)
        .map_err(|e| LspError::invalid_params(e.to_string()))
}

/// What `codeAction/resolve` needs, from the data the action was listed with.
pub(crate) fn action_data(action: &CodeAction) -> LspResult<ActionData> {
    action
        .data
        .clone()
        .and_then(|d| serde_json::from_value(d).ok())
        .ok_or_else(|| LspError::invalid_params("this code action has no dllm data to resolve"))
}

pub(crate) fn command(name: &str) -> LspResult<Command> {
    name.parse()
        .map_err(|e: super::command::UnknownCommand| LspError::invalid_params(e.to_string()))
}

/// The one argument of an editing command.
pub(crate) fn command_args(command: Command, arguments: &[Value]) -> LspResult<CommandArgs> {
    arguments
        .first()
        .cloned()
        .and_then(|a| serde_json::from_value(a).ok())
        .ok_or_else(|| {
            LspError::invalid_params(format!(
                "{command} takes one argument {{uri, range?, position?, instruction?}}"
            ))
        })
}

/// The task an editing command asks for, in byte offsets of `snap`.
pub(crate) fn command_task(
    snap: &DocumentSnapshot,
    command: Command,
    args: CommandArgs,
) -> LspResult<Task> {
    let at = args.position.or(args.range.map(|r| r.start));
    let offset_at = |p: Option<Position>| p.map(|p| offset(snap, p)).transpose();
    match command {
        Command::Rewrite => {
            let range = args
                .range
                .ok_or_else(|| LspError::invalid_params("dllm.rewrite needs a range"))?;
            let bytes = byte_range(snap, range)?;
            Ok(Task::Rewrite {
                start: bytes.start,
                end: bytes.end,
                instruction: args.instruction,
            })
        }
        Command::FillHoles => Ok(Task::FillHoles {
            offset: offset_at(at)?,
        }),
        Command::CompleteBlock => Ok(Task::CompleteBlock {
            offset: offset_at(at)?
                .ok_or_else(|| LspError::invalid_params("dllm.completeBlock needs a position"))?,
        }),
        Command::Status => Err(LspError::invalid_params("dllm.status works on no document")),
    }
}
