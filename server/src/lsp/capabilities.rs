//! What the server tells the client it can do, in `initialize`.

use tower_lsp_server::ls_types::*;

use super::command::Command;
use crate::document::Encoding;

pub(crate) fn server_capabilities(encoding: Encoding) -> ServerCapabilities {
    ServerCapabilities {
        position_encoding: Some(encoding.kind()),
        text_document_sync: Some(TextDocumentSyncCapability::Kind(
            TextDocumentSyncKind::INCREMENTAL,
        )),
        inline_completion_provider: Some(OneOf::Left(true)),
        completion_provider: Some(CompletionOptions::default()),
        code_action_provider: Some(CodeActionProviderCapability::Options(CodeActionOptions {
            code_action_kinds: Some(vec![
                CodeActionKind::REFACTOR_REWRITE,
                CodeActionKind::QUICKFIX,
            ]),
            resolve_provider: Some(true),
            work_done_progress_options: Default::default(),
        })),
        execute_command_provider: Some(ExecuteCommandOptions {
            commands: Command::ALL.iter().map(|c| c.as_str().into()).collect(),
            work_done_progress_options: Default::default(),
        }),
        ..Default::default()
    }
}

pub(crate) fn server_info() -> ServerInfo {
    ServerInfo {
        name: "dllm-ls".into(),
        version: Some(env!("CARGO_PKG_VERSION").into()),
    }
}
