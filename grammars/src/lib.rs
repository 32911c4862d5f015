//! tree-sitter for dllm-ls, in plain types (byte ranges, language ids), so the server turns LSP
//! requests into calls here and this crate is testable without a model or an editor.
//!
//! Every offset is a **byte** offset into the UTF-8 text and must lie on a character boundary;
//! columns in [`TextPoint`] are bytes too. The server converts LSP positions (UTF-16 by default)
//! before calling in.
//!
//! - [`Language`]: Rust, Python, JavaScript, TypeScript, TSX, Go, found by LSP language id
//!   ([`Language::from_language_id`]) or file extension ([`Language::from_extension`],
//!   [`Language::from_path`]); [`Language::tree_sitter_language`] gives the grammar.
//! - [`SyntaxTree`]: a parser and the tree of one document: [`SyntaxTree::parse`], and
//!   [`SyntaxTree::edit`] with a [`TreeEdit`] for an incremental reparse after a change.
//! - [`span`]: what to mask for a request. [`select_span`] takes a [`SpanRequest`]
//!   (selection, cursor, enclosing statement / block / function body) and answers a [`Span`]:
//!   the byte range, a [`SpanKind`], whether the fill may span lines, and whether the cursor is
//!   mid-word. The functions behind it ([`span::span_at_cursor`], [`span::widen_selection`],
//!   [`span::enclosing_block`], …) are public too.
//! - [`holes`]: `todo!()`, `unimplemented!()`, Python `pass` / `...` bodies,
//!   `raise NotImplementedError`, `throw new Error("not implemented")`, Go
//!   `panic("not implemented")` and `TODO` / `FIXME` comments, found by [`find_holes`] with
//!   configurable [`HoleMarkers`]; the function body to search for "fill every hole in this
//!   function" is [`SpanRequest::EnclosingFunctionBody`]'s span.
//! - [`tokens`]: what an edit changed and what should change with it, for next-edit
//!   suggestions: the identifier or literal around an edit, the other tokens spelled the same,
//!   the parameter list an edit changed and the calls of its function.
//! - [`check`]: whether a candidate edit adds syntax errors ([`check_edit`], [`check_edits`]),
//!   and where ([`EditCheck::error_ranges`]), so a caller can re-mask around them;
//!   [`count_errors_in`] counts ERROR / MISSING nodes touching a range.
//!
//! ```
//! use dllm_grammars::{select_span, Language, SpanKind, SpanRequest, SyntaxTree};
//!
//! let text = "fn add(a: i32, b: i32) -> i32 {\n    \n}\n";
//! let tree = SyntaxTree::parse(Language::from_language_id("rust").unwrap(), text)?;
//! let cursor = text.find("    \n").unwrap() + 4;
//! let span = select_span(&tree, text, &SpanRequest::Cursor { offset: cursor })?;
//! assert_eq!(span.kind, SpanKind::EmptyBlock);
//! assert!(span.multiline);
//! assert_eq!(&text[span.range], "\n    \n");
//! # Ok::<(), dllm_grammars::GrammarError>(())
//! ```

pub mod check;
pub mod edits;
pub mod holes;
pub mod language;
pub mod span;
pub mod syntax_tree;
pub mod tokens;

pub use check::{check_edit, check_edits, check_edits_on, count_errors_in, EditCheck};
pub use holes::{find_holes, Hole, HoleKind, HoleMarkers};
pub use language::Language;
pub use span::{select_span, FunctionSpan, Span, SpanKind, SpanRequest};
pub use syntax_tree::{SyntaxTree, TextPoint, TreeEdit};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GrammarError {
    #[error("offset {offset} is past the end of the text ({len} bytes)")]
    OutOfBounds { offset: usize, len: usize },
    #[error("offset {offset} is inside a UTF-8 character, not on a character boundary")]
    NotCharBoundary { offset: usize },
    #[error("range {start}..{end} ends before it starts")]
    InvertedRange { start: usize, end: usize },
    /// A [`SpanRequest`] for an enclosing statement / block / function where there is none.
    #[error("no enclosing {what} at offset {offset}")]
    NoEnclosing { what: &'static str, offset: usize },
    #[error("edits overlap")]
    OverlappingEdits,
    #[error("tree-sitter grammar: {0}")]
    Grammar(String),
    #[error("tree-sitter could not parse the text")]
    ParseFailed,
}

/// Checks that `offset` can index `text`: within it and on a character boundary.
pub(crate) fn check_offset(text: &str, offset: usize) -> Result<(), GrammarError> {
    if offset > text.len() {
        return Err(GrammarError::OutOfBounds {
            offset,
            len: text.len(),
        });
    }
    if !text.is_char_boundary(offset) {
        return Err(GrammarError::NotCharBoundary { offset });
    }
    Ok(())
}

/// Checks both ends of `range` and that it is not inverted.
pub(crate) fn check_range(text: &str, range: &std::ops::Range<usize>) -> Result<(), GrammarError> {
    check_offset(text, range.start)?;
    check_offset(text, range.end)?;
    if range.end < range.start {
        return Err(GrammarError::InvertedRange {
            start: range.start,
            end: range.end,
        });
    }
    Ok(())
}
