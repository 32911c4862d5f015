//! tree-sitter for dllm-ls, in plain types (byte ranges, language ids), so the server turns LSP
//! requests into calls here and this crate is testable without a model:
//!
//! - [`Language`]: Rust, Python, JavaScript, TypeScript, TSX, Go by language id or extension;
//! - [`span`]: what to mask for a request (cursor, selection, block, statement, function body);
//! - [`holes`]: `todo!()`, `pass`, `...`, `TODO` comments and other markers;
//! - [`check`]: whether a candidate edit adds syntax errors, and where.

pub mod check;
pub mod holes;
pub mod language;
pub mod span;
pub mod tree;

pub use check::{check_edits, EditCheck};
pub use holes::{find_holes, Hole, HoleKind, HoleMarkers};
pub use language::Language;
pub use span::{FunctionSpan, Span};
pub use tree::SyntaxTree;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GrammarError {
    #[error("offset {offset} is outside the text ({len} bytes) or inside a character")]
    BadOffset { offset: usize, len: usize },
    #[error("edits overlap")]
    OverlappingEdits,
    #[error("tree-sitter grammar: {0}")]
    Grammar(String),
    #[error("tree-sitter could not parse the text")]
    ParseFailed,
}
