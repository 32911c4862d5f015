//! `textDocument/didChange`: cancels the document's in-flight work, then applies the batch
//! whole or not at all; a batch that does not fit is rejected and the last good text kept.
//! Applied changes join the document's edit history (for next-edit suggestions).

use tower_lsp_server::ls_types::DidChangeTextDocumentParams;

use crate::history::Change;
use crate::lsp::error::{LspError, LspResult};
use crate::lsp::state::State;

pub(crate) fn did_change(state: &mut State, params: DidChangeTextDocumentParams) -> LspResult<()> {
    let uri = params.text_document.uri;
    let version = params.text_document.version;
    state.cancel_inflight(&uri);
    let encoding = state.encoding;
    let now = state.tick();
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
        Ok(replaced) => {
            for (r, change) in replaced.iter().zip(&params.content_changes) {
                let change = Change {
                    range: r.range.clone(),
                    old_text: r.old_text.as_deref(),
                    new_text: &change.text,
                };
                open.history.record(change, version);
            }
            open.edited_at = now;
            Ok(())
        }
        Err(e) => Err(LspError::invalid_params(format!(
            "rejected an edit of {} (version {version}): {e}; keeping the last good text",
            uri.as_str()
        ))),
    }
}
