//! `DocumentSnapshot`: what a request reads, copied out of the state under the lock, so that
//! no lock is held while the model runs.

use tower_lsp_server::ls_types::Uri;

use super::state::OpenDocument;
use crate::config::Config;
use crate::document::{Document, Encoding};
use crate::history::PastEdit;
use crate::pipeline::Snapshot;

#[derive(Debug, Clone)]
pub(crate) struct DocumentSnapshot {
    pub uri: Uri,
    /// The document as it was (a rope clone shares its structure): positions are converted and
    /// outgoing edits checked against this text.
    pub doc: Document,
    /// Which opening of `uri` this is (see [`OpenDocument::generation`]).
    pub generation: u64,
    pub encoding: Encoding,
    pub config: Config,
    /// What the pipeline reads: the same text, shared; its cache key is the URI.
    pub pipeline: Snapshot,
    /// The document's recent edits, oldest first.
    pub history: Vec<PastEdit>,
}

impl DocumentSnapshot {
    pub(crate) fn new(uri: &Uri, open: &OpenDocument, encoding: Encoding, config: &Config) -> Self {
        let mut pipeline = Snapshot::from_document(&open.doc);
        pipeline.cache_key = Some(uri.as_str().to_string());
        DocumentSnapshot {
            uri: uri.clone(),
            doc: open.doc.clone(),
            generation: open.generation,
            encoding,
            config: config.clone(),
            pipeline,
            history: open.history.edits().cloned().collect(),
        }
    }

    /// Whether the language is one the settings let the server work on.
    pub(crate) fn language_enabled(&self) -> bool {
        self.config.language_enabled(&self.pipeline.language_id)
    }
}
