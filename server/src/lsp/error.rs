//! The one error path of the LSP layer: handlers return [`LspError`], a named code and a
//! message; the dispatch turns it into a JSON-RPC error at the edge. [`classify`] decides how a
//! pipeline failure reaches the client.

use tower_lsp_server::jsonrpc::{Error as RpcError, ErrorCode as RpcErrorCode};

use crate::engine::EngineError;
use crate::pipeline::PipelineError;
use dllm_models::Error as ModelError;

/// The JSON-RPC error codes dllm-ls answers with, by name. (The transport guard answers
/// undecodable messages itself, with -32600 and -32601.)
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ErrorCode {
    /// The request names something that is not there or does not fit: a document that is not
    /// open, a position past the end, a span over a size limit, an unknown command.
    InvalidParams,
    /// A bug: a handler panicked or a library failed where it should not.
    InternalError,
    /// `$/cancelRequest`, or a newer request that replaced this one.
    RequestCancelled,
    /// The document changed since this was computed (or listed); ask again.
    ContentModified,
    /// The request was understood and the text is current, but there is nothing to offer (a
    /// code action that finds no edit). Editors show its message.
    RequestFailed,
}

impl ErrorCode {
    pub(crate) const fn code(self) -> i64 {
        match self {
            ErrorCode::InvalidParams => -32602,
            ErrorCode::InternalError => -32603,
            ErrorCode::RequestCancelled => -32800,
            ErrorCode::ContentModified => -32801,
            ErrorCode::RequestFailed => -32803,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LspError {
    pub code: ErrorCode,
    pub message: String,
}

pub(crate) type LspResult<T> = Result<T, LspError>;

impl LspError {
    pub(crate) fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        LspError {
            code,
            message: message.into(),
        }
    }

    pub(crate) fn invalid_params(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidParams, message)
    }

    pub(crate) fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InternalError, message)
    }

    pub(crate) fn cancelled() -> Self {
        Self::new(ErrorCode::RequestCancelled, "Canceled")
    }

    pub(crate) fn content_modified() -> Self {
        Self::new(
            ErrorCode::ContentModified,
            "the document changed since this was computed; ask again",
        )
    }

    pub(crate) fn request_failed(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::RequestFailed, message)
    }
}

impl From<LspError> for RpcError {
    fn from(e: LspError) -> Self {
        RpcError {
            code: RpcErrorCode::from(e.code.code()),
            message: e.message.into(),
            data: None,
        }
    }
}

/// How a pipeline failure reaches the client: an empty answer where nothing is wrong (no model
/// yet, nothing to do), an error where something is.
pub(crate) enum Failure {
    Empty(String),
    Error(LspError),
}

pub(crate) fn classify(e: PipelineError) -> Failure {
    match e {
        PipelineError::NothingToDo(why) => Failure::Empty(why),
        PipelineError::UnsupportedLanguage(l) => {
            Failure::Empty(format!("language {l:?} is not supported"))
        }
        PipelineError::Engine(EngineError::NotReady(why)) => {
            Failure::Empty(format!("model not ready: {why}"))
        }
        PipelineError::Engine(EngineError::Cancelled) => Failure::Error(LspError::cancelled()),
        // The remote engine failed (logged and in the status where it happened): no edit, and
        // the server goes on.
        PipelineError::Engine(EngineError::Remote(e)) => {
            Failure::Empty(format!("the remote engine failed: {e}"))
        }
        PipelineError::Grammar(g) => Failure::Error(LspError::invalid_params(g.to_string())),
        // Too large for the server's limits or for the model's context: the request, not the
        // server, is at fault.
        e @ PipelineError::TooLarge { .. } => {
            Failure::Error(LspError::invalid_params(format!("dllm-ls: {e}")))
        }
        PipelineError::Engine(EngineError::Model(ModelError::InvalidRequest(why))) => {
            Failure::Error(LspError::invalid_params(format!(
                "dllm-ls: the request does not fit the model: {why}"
            )))
        }
        other => Failure::Error(LspError::internal(other.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_reach_json_rpc_by_number() {
        let cases = [
            (LspError::invalid_params("x"), -32602),
            (LspError::internal("x"), -32603),
            (LspError::cancelled(), -32800),
            (LspError::content_modified(), -32801),
            (LspError::request_failed("x"), -32803),
        ];
        for (e, code) in cases {
            let rpc = RpcError::from(e.clone());
            assert_eq!(rpc.code.code(), code);
            assert_eq!(rpc.message, e.message);
        }
        assert_eq!(
            RpcError::from(LspError::cancelled()).code,
            RpcErrorCode::RequestCancelled
        );
        assert_eq!(
            RpcError::from(LspError::content_modified()).code,
            RpcErrorCode::ContentModified
        );
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
