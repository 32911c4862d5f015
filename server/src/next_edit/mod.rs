//! Next-edit suggestions: after an edit, the edit that should follow it somewhere near the
//! cursor (the same rename at the next use, the new argument at a call site, the same literal
//! in a parallel line), or nothing.
//!
//! Two engines answer, behind the [`Infiller`] seam:
//! - the local diffusion model re-masks the tokens the recent edit made inconsistent
//!   ([`remask`]) and denoises them ([`local`]);
//! - a remote engine that speaks Inception's `/edit/completions` rewrites the region around the
//!   cursor ([`crate::remote::edit`]), and the difference is the edit.
//!
//! Either way the answer is one edit, [`diff::smallest_edit`] of what changed, that parses and
//! does not repeat itself. Precision over recall: a wrong suggestion costs the user more than
//! a missing one, so every doubt ends in no suggestion.

pub mod diff;
pub mod local;
pub mod remask;
pub mod remote;
pub mod window;

use std::ops::Range;

use dllm_models::CancelFlag;

use crate::config::Config;
use crate::history::PastEdit;
use crate::infiller::Infiller;
use crate::pipeline::{PipelineError, Snapshot};

/// A piece of another file the user looked at recently, for engines that read them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snippet {
    pub path: String,
    pub text: String,
}

/// What a next-edit request sees: the document, its recent edits and the cursor.
#[derive(Debug, Clone)]
pub struct Context {
    pub snapshot: Snapshot,
    /// The document's recent edits, oldest first, in the snapshot's offsets.
    pub history: Vec<PastEdit>,
    /// The cursor, a byte offset into the snapshot's text.
    pub cursor: usize,
    /// The document's path (or URI) as engines are shown it.
    pub path: String,
    pub recently_viewed: Vec<Snippet>,
}

/// The suggested edit: replace `range` (bytes of the snapshot's text) with `text`.
#[derive(Debug, Clone, PartialEq)]
pub struct Proposal {
    pub range: Range<usize>,
    pub text: String,
    /// A few words for the editor to show, such as "rename `count` → `total`".
    pub label: String,
}

/// The next edit for `ctx`, or `None` when there is none worth showing.
pub async fn suggest(
    infiller: &Infiller,
    ctx: &Context,
    config: &Config,
    cancel: &CancelFlag,
) -> Result<Option<Proposal>, PipelineError> {
    match infiller {
        Infiller::Local(_) => local::suggest(infiller, ctx, config, cancel).await,
        Infiller::Remote(engine) => remote::suggest(engine, ctx, cancel).await,
    }
}
