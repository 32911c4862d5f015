//! `textDocument/completion`: the inline suggestion as one completion item, for clients
//! without inline completion.

use tower_lsp_server::ls_types::{CompletionParams, CompletionResponse};

use crate::lsp::backend::Backend;
use crate::lsp::error::LspResult;
use crate::lsp::inline::suggest;
use crate::lsp::to_proto;

pub(crate) async fn completion(
    backend: &Backend,
    params: CompletionParams,
) -> LspResult<Option<CompletionResponse>> {
    let tdp = params.text_document_position;
    let suggestion = suggest(backend, &tdp.text_document.uri, tdp.position).await?;
    Ok(suggestion.map(to_proto::completion))
}
