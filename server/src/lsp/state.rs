//! `State`: what the LSP loop keeps between messages (open documents, settings, negotiated
//! options, in-flight cancel flags). Changed only on the LSP loop, under one mutex never held
//! across an `.await`; requests copy what they need out of it as a [`DocumentSnapshot`].

use std::collections::HashMap;

use dllm_models::CancelFlag;
use tower_lsp_server::ls_types::Uri;

use super::error::{LspError, LspResult};
use super::snapshot::DocumentSnapshot;
use crate::config::Config;
use crate::document::{Document, Encoding};
use crate::gate::Tally;
use crate::history::EditHistory;
use crate::next_edit::{window, Snippet};

/// How many other documents a next-edit request shows the engine, and how many lines on each
/// side of their latest edit.
const RECENT_SNIPPETS: usize = 3;
const SNIPPET_LINES: usize = 10;

/// An open document and which opening of its URI this is.
#[derive(Debug, Clone)]
pub(crate) struct OpenDocument {
    pub doc: Document,
    /// Rises with every `didOpen` in this server. A reopened document starts again at the
    /// client's version 1, so the version alone cannot tell its texts apart; version and
    /// generation together can.
    pub generation: u64,
    /// Its recent edits, for next-edit suggestions.
    pub history: EditHistory,
    /// When it was last edited, on the state's edit clock ([`State::tick`]); 0: never.
    pub edited_at: u64,
}

#[derive(Default)]
pub(crate) struct State {
    pub docs: HashMap<Uri, OpenDocument>,
    pub config: Config,
    pub encoding: Encoding,
    /// Whether the client said it shows work-done progress; only then is it asked to.
    pub work_done_progress: bool,
    /// The newest inline request per document; a newer one cancels it.
    inline_inflight: HashMap<Uri, CancelFlag>,
    /// All in-flight model work per document, cancelled when the document changes.
    doc_inflight: HashMap<Uri, Vec<CancelFlag>>,
    /// The last generation given to an opened document.
    openings: u64,
    /// Inline suggestions the confidence gate has shown and withheld.
    pub gate: Tally,
    /// Counts edits across documents, to tell which were edited most recently.
    edit_clock: u64,
}

impl State {
    /// Opens `uri` (again) with a new generation; work on a text it replaces is cancelled.
    pub(crate) fn open(&mut self, uri: Uri, doc: Document) {
        self.cancel_inflight(&uri);
        self.openings += 1;
        let generation = self.openings;
        let history = EditHistory::default();
        let open = OpenDocument {
            doc,
            generation,
            history,
            edited_at: 0,
        };
        self.docs.insert(uri, open);
    }

    pub(crate) fn close(&mut self, uri: &Uri) {
        self.docs.remove(uri);
        self.inline_inflight.remove(uri);
        self.cancel_inflight(uri);
    }

    /// Cancels all model work on `uri`: its text is about to change.
    pub(crate) fn cancel_inflight(&mut self, uri: &Uri) {
        if let Some(flags) = self.doc_inflight.remove(uri) {
            flags.iter().for_each(CancelFlag::cancel);
        }
    }

    /// Cancels all model work on every document (`shutdown`).
    pub(crate) fn cancel_all(&self) {
        self.doc_inflight
            .values()
            .flatten()
            .for_each(CancelFlag::cancel);
    }

    /// A cancel flag registered for `uri`, cancelled by the next edit of that document.
    pub(crate) fn track(&mut self, uri: &Uri) -> CancelFlag {
        let flag = CancelFlag::new();
        let list = self.doc_inflight.entry(uri.clone()).or_default();
        list.retain(|f| !f.is_cancelled());
        list.push(flag.clone());
        flag
    }

    /// [`State::track`] for an inline request, which also replaces (and cancels) the
    /// document's previous inline request.
    pub(crate) fn track_inline(&mut self, uri: &Uri) -> CancelFlag {
        let flag = self.track(uri);
        if let Some(old) = self.inline_inflight.insert(uri.clone(), flag.clone()) {
            old.cancel();
        }
        flag
    }

    /// The next reading of the edit clock, for a document edited now.
    pub(crate) fn tick(&mut self) -> u64 {
        self.edit_clock += 1;
        self.edit_clock
    }

    /// The lines around the latest edit of each other open document, most recently edited
    /// first: what a next-edit engine is shown as "recently viewed".
    pub(crate) fn recently_edited(&self, uri: &Uri) -> Vec<Snippet> {
        let mut others: Vec<_> = self
            .docs
            .iter()
            .filter(|(u, open)| *u != uri && open.edited_at > 0 && open.doc.flat.is_some())
            .collect();
        others.sort_by_key(|(_, open)| std::cmp::Reverse(open.edited_at));
        others
            .into_iter()
            .take(RECENT_SNIPPETS)
            .filter_map(|(u, open)| {
                let text = open.doc.flat.as_deref()?;
                let at = open.history.latest()?.start.min(text.len());
                let lines = window::around(text, at, SNIPPET_LINES);
                Some(Snippet {
                    path: u.path().to_string(),
                    text: text.get(lines)?.to_string(),
                })
            })
            .collect()
    }

    /// Everything a request on `uri` needs, copied out (a rope clone shares its structure).
    pub(crate) fn snapshot(&self, uri: &Uri) -> LspResult<DocumentSnapshot> {
        let open = self.docs.get(uri).ok_or_else(|| {
            LspError::invalid_params(format!("document not open: {}", uri.as_str()))
        })?;
        Ok(DocumentSnapshot::new(
            uri,
            open,
            self.encoding,
            &self.config,
        ))
    }
}

/// Sets the flag when dropped: a request aborted by `$/cancelRequest` (its future dropped)
/// stops the sampler at the next step.
pub(crate) struct CancelOnDrop(pub CancelFlag);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.cancel();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_opening_is_a_new_generation_and_cancels_work_on_the_old_text() {
        let uri: Uri = "file:///x.rs".parse().unwrap();
        let mut state = State::default();
        state.open(uri.clone(), Document::new("rust", 1, "fn f() {}\n"));
        let first = state.snapshot(&uri).unwrap();
        let work = state.track(&uri);
        let inline = state.track_inline(&uri);
        state.close(&uri);
        assert!(work.is_cancelled() && inline.is_cancelled());
        assert!(state.snapshot(&uri).is_err());
        state.open(uri.clone(), Document::new("rust", 1, "fn g() {}\n"));
        let work = state.track(&uri);
        state.open(uri.clone(), Document::new("rust", 1, "fn h() {}\n"));
        assert!(work.is_cancelled());
        let third = state.snapshot(&uri).unwrap();
        assert_eq!(first.doc.version, third.doc.version);
        assert!(third.generation > first.generation + 1);
        assert_eq!(third.pipeline.cache_key.as_deref(), Some("file:///x.rs"));
    }
}
