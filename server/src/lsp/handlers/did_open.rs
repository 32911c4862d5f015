//! `textDocument/didOpen`: the document, parsed, as a new opening of its URI.

use tower_lsp_server::ls_types::{DidOpenTextDocumentParams, Uri};

use crate::document::Document;
use crate::lsp::error::LspResult;
use crate::lsp::state::State;

pub(crate) fn did_open(state: &mut State, params: DidOpenTextDocumentParams) -> LspResult<()> {
    let d = params.text_document;
    let path = uri_path(&d.uri);
    let doc = Document::open(&d.language_id, path.as_deref(), d.version, &d.text);
    state.open(d.uri, doc);
    Ok(())
}

/// The file a URI names, which tells the language where the language id does not.
fn uri_path(uri: &Uri) -> Option<std::path::PathBuf> {
    uri.to_file_path().map(|p| p.into_owned())
}
