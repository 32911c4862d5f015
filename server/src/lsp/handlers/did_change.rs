//! `textDocument/didChange`: cancels the document's in-flight work, then applies the batch
//! whole or not at all; a batch that does not fit is rejected and the last good text kept.

use tower_lsp_server::ls_types::DidChangeTextDocumentParams;

use crate::lsp::error::{LspError, LspResult};
use crate::lsp::state::State;

pub(crate) fn did_change(state: &mut State, params: DidChangeTextDocumentParams) -> LspResult<()> {
    let uri = params.text_document.uri;
    let version = params.text_document.version;
    state.cancel_inflight(&uri);
    let encoding = state.encoding;
    let Some(open) = state.docs.get_mut(&uri) else {
        return Err(LspError::invalid_params(format!(
            "didChange for a document that is not open: {}",
            uri.as_str()
        )));
    };
    match open
        .doc
        .apply_changes(version, &params.content_changes, encoding)
    {
        Ok(_) => Ok(()),
        Err(e) => Err(LspError::invalid_params(format!(
            "rejected an edit of {} (version {version}): {e}; keeping the last good text",
            uri.as_str()
        ))),
    }
}
