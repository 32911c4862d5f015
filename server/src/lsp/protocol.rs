//! Conversions between the pipeline's byte ranges and LSP types, and JSON-RPC errors.

use tower_lsp_server::jsonrpc::{Error as RpcError, ErrorCode};
use tower_lsp_server::ls_types::*;

use crate::document::{Document, Encoding};
use crate::engine::EngineError;
use crate::pipeline::{Edit, PipelineError};

/// A versioned edit: the client refuses it if the document changed since, so a late answer
/// can never land on text it was not computed for.
pub fn workspace_edit(
    uri: &Uri,
    version: i32,
    doc: &Document,
    edits: &[Edit],
    enc: Encoding,
) -> WorkspaceEdit {
    let edits = edits
        .iter()
        .map(|e| {
            OneOf::Left(TextEdit {
                range: doc.lsp_range(e.range.clone(), enc),
                new_text: e.text.clone(),
            })
        })
        .collect();
    WorkspaceEdit {
        document_changes: Some(DocumentChanges::Edits(vec![TextDocumentEdit {
            text_document: OptionalVersionedTextDocumentIdentifier {
                uri: uri.clone(),
                version: Some(version),
            },
            edits,
        }])),
        ..Default::default()
    }
}

pub fn error(code: ErrorCode, message: impl Into<String>) -> RpcError {
    RpcError {
        code,
        message: message.into().into(),
        data: None,
    }
}

pub fn content_modified() -> RpcError {
    error(
        ErrorCode::ContentModified,
        "the document changed since this was computed; ask again",
    )
}

/// How a pipeline failure reaches the client: an empty answer where nothing is wrong (no model
/// yet, nothing to do), an error where something is.
pub enum Failure {
    Empty(String),
    Error(RpcError),
}

pub fn classify(e: PipelineError) -> Failure {
    match e {
        PipelineError::NothingToDo(why) => Failure::Empty(why),
        PipelineError::UnsupportedLanguage(l) => {
            Failure::Empty(format!("language {l:?} is not supported"))
        }
        PipelineError::Engine(EngineError::NotReady(why)) => {
            Failure::Empty(format!("model not ready: {why}"))
        }
        PipelineError::Engine(EngineError::Cancelled) => {
            Failure::Error(RpcError::request_cancelled())
        }
        PipelineError::Grammar(g) => Failure::Error(RpcError::invalid_params(g.to_string())),
        other => Failure::Error(error(ErrorCode::InternalError, other.to_string())),
    }
}
