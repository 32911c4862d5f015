//! Conversions between the pipeline's byte ranges and LSP types, and JSON-RPC errors.

use tower_lsp_server::jsonrpc::{Error as RpcError, ErrorCode};
use tower_lsp_server::ls_types::*;

use crate::document::{Document, Encoding};
use crate::engine::EngineError;
use crate::pipeline::{Edit, PipelineError};
use dllm_models::Error as ModelError;

/// A versioned edit: the client refuses it if the document changed since, so a late answer
/// can never land on text it was not computed for. `None` when no edit passed [`checked`].
pub fn workspace_edit(
    uri: &Uri,
    version: i32,
    doc: &Document,
    edits: &[Edit],
    enc: Encoding,
) -> Option<WorkspaceEdit> {
    let edits: Vec<OneOf<TextEdit, AnnotatedTextEdit>> = edits
        .iter()
        .filter_map(|e| {
            checked(
                doc,
                TextEdit {
                    range: doc.lsp_range(e.range.clone(), enc),
                    new_text: e.text.clone(),
                },
                enc,
            )
        })
        .map(OneOf::Left)
        .collect();
    if edits.is_empty() {
        return None;
    }
    Some(WorkspaceEdit {
        document_changes: Some(DocumentChanges::Edits(vec![TextDocumentEdit {
            text_document: OptionalVersionedTextDocumentIdentifier {
                uri: uri.clone(),
                version: Some(version),
            },
            edits,
        }])),
        ..Default::default()
    })
}

/// The gate every edit passes before it leaves the server: its range must name real positions
/// of `doc`, the text it was computed on. One that does not is dropped with a log line: no edit
/// is better than one that lands in the wrong place.
pub fn checked(doc: &Document, edit: TextEdit, enc: Encoding) -> Option<TextEdit> {
    match doc.check_range(edit.range, enc) {
        Ok(()) => Some(edit),
        Err(e) => {
            tracing::error!(
                "dropped an edit of {:?} that does not fit the document (version {}): {e}",
                edit.range,
                doc.version
            );
            None
        }
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
        // Too large for the server's limits or for the model's context: the request, not the
        // server, is at fault.
        e @ PipelineError::TooLarge { .. } => {
            Failure::Error(RpcError::invalid_params(format!("dllm-ls: {e}")))
        }
        PipelineError::Engine(EngineError::Model(ModelError::InvalidRequest(why))) => {
            Failure::Error(RpcError::invalid_params(format!(
                "dllm-ls: the request does not fit the model: {why}"
            )))
        }
        other => Failure::Error(error(ErrorCode::InternalError, other.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(a: (u32, u32), b: (u32, u32)) -> Range {
        Range {
            start: Position::new(a.0, a.1),
            end: Position::new(b.0, b.1),
        }
    }

    #[test]
    fn edits_that_do_not_fit_the_document_are_dropped() {
        let doc = Document::new("go", 3, "a\r\nbc\r\n");
        let uri: Uri = "file:///x.go".parse().unwrap();
        let edit = |r| Edit {
            range: r,
            text: "x".into(),
        };
        // Bytes 0..2 end between the \r and the \n; 4..5 is fine.
        let out = workspace_edit(&uri, 3, &doc, &[edit(0..2), edit(4..5)], Encoding::Utf16)
            .expect("one edit fits");
        let Some(DocumentChanges::Edits(changes)) = out.document_changes else {
            panic!("versioned edits expected")
        };
        assert_eq!(
            changes[0].edits,
            vec![OneOf::Left(TextEdit {
                range: range((1, 1), (1, 2)),
                new_text: "x".into()
            })]
        );
        assert!(workspace_edit(&uri, 3, &doc, &[edit(0..2)], Encoding::Utf16).is_none());
        let past = TextEdit {
            range: range((1, 0), (5, 0)),
            new_text: String::new(),
        };
        assert_eq!(checked(&doc, past, Encoding::Utf8), None);
    }

    #[test]
    fn size_limits_are_invalid_params() {
        let too_large = PipelineError::TooLarge {
            what: "the selection".into(),
            size: 10,
            limit: 5,
        };
        let over_context = PipelineError::Engine(EngineError::Model(ModelError::InvalidRequest(
            "the spans need 300 tokens, more than the 256 the context allows".into(),
        )));
        for e in [too_large, over_context] {
            match classify(e) {
                Failure::Error(err) => {
                    assert_eq!(err.code, ErrorCode::InvalidParams);
                    assert!(err.message.contains("10") || err.message.contains("256"));
                }
                Failure::Empty(why) => panic!("an error expected, got {why}"),
            }
        }
    }
}
