//! dllm-ls's own LSP requests, beside the standard ones: their method names and parameter and
//! result types, as the editors' integrations send and read them.

use serde::{Deserialize, Serialize};
use tower_lsp_server::ls_types::{Position, Range, TextDocumentIdentifier, Uri};

/// `dllm/nextEdit`: the edit that should follow the document's recent edits, somewhere near
/// the cursor, or `null`.
pub(crate) const NEXT_EDIT: &str = "dllm/nextEdit";

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct NextEditParams {
    pub text_document: TextDocumentIdentifier,
    pub position: Position,
}

/// A next-edit suggestion: replace `range` of the document at `version` with `new_text`. An
/// editor drops it once the document is at another version.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct NextEdit {
    pub uri: Uri,
    pub range: Range,
    pub new_text: String,
    pub version: i32,
    /// A few words to show beside it, such as "rename `count` → `total`".
    pub label: String,
}
