//! A parsed document and the error nodes in it.

use std::ops::Range;

use tree_sitter::{Node, Parser, Tree};

use crate::language::Language;
use crate::GrammarError;

pub struct SyntaxTree {
    pub language: Language,
    pub(crate) tree: Tree,
}

impl SyntaxTree {
    pub fn parse(language: Language, text: &str) -> Result<Self, GrammarError> {
        let mut parser = Parser::new();
        parser
            .set_language(&language.grammar())
            .map_err(|e| GrammarError::Grammar(e.to_string()))?;
        let tree = parser.parse(text, None).ok_or(GrammarError::ParseFailed)?;
        Ok(SyntaxTree { language, tree })
    }

    pub fn root(&self) -> Node<'_> {
        self.tree.root_node()
    }

    pub fn sexp(&self) -> String {
        self.root().to_sexp()
    }

    /// Byte ranges of ERROR and MISSING nodes that touch `range` (an empty range touches the
    /// nodes around its point).
    pub fn errors_near(&self, range: Range<usize>) -> Vec<Range<usize>> {
        let mut out = Vec::new();
        collect_errors(self.root(), &range, &mut out);
        out
    }

    /// The smallest named node covering `range`.
    pub(crate) fn node_covering(&self, range: Range<usize>) -> Node<'_> {
        self.root()
            .named_descendant_for_byte_range(range.start, range.end)
            .unwrap_or(self.root())
    }
}

fn touches(node: &Node, range: &Range<usize>) -> bool {
    node.start_byte() <= range.end && node.end_byte() >= range.start
}

fn collect_errors(node: Node, range: &Range<usize>, out: &mut Vec<Range<usize>>) {
    if !node.has_error() || !touches(&node, range) {
        return;
    }
    if node.is_error() || node.is_missing() {
        out.push(node.byte_range());
        return;
    }
    let mut cursor = node.walk();
    for child in node.children(&mut cursor) {
        collect_errors(child, range, out);
    }
}
