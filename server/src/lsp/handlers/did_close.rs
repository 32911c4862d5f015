//! `textDocument/didClose`: forgets the document and cancels its work.

use tower_lsp_server::ls_types::DidCloseTextDocumentParams;

use crate::lsp::error::LspResult;
use crate::lsp::state::State;

pub(crate) fn did_close(state: &mut State, params: DidCloseTextDocumentParams) -> LspResult<()> {
    state.close(&params.text_document.uri);
    Ok(())
}
