//! `textDocument/inlineCompletion`: ghost text at the cursor, with the code after it in view.

use tower_lsp_server::ls_types::{InlineCompletionParams, InlineCompletionResponse};

use crate::lsp::backend::Backend;
use crate::lsp::error::LspResult;
use crate::lsp::inline::suggest;
use crate::lsp::to_proto;

pub(crate) async fn inline_completion(
    backend: &Backend,
    params: InlineCompletionParams,
) -> LspResult<Option<InlineCompletionResponse>> {
    let tdp = params.text_document_position;
    let suggestion = suggest(backend, &tdp.text_document.uri, tdp.position).await?;
    Ok(Some(to_proto::inline_completion(suggestion)))
}
