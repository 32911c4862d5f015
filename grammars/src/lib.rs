//! tree-sitter: languages, span selection, holes, syntax checks.
