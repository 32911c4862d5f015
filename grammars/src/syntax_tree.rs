//! One document's parser and tree. The parser is kept with the tree so an edit reparses
//! incrementally: tree-sitter reuses every subtree the edit did not touch.

use std::ops::Range;

use tree_sitter::{InputEdit, Node, Parser, Point, Tree};

use crate::language::Language;
use crate::{check_offset, check_range, GrammarError};

/// A position as tree-sitter counts it: `row` is the number of `\n` before it (a `\r` is an
/// ordinary byte, so `\r\n` ends a line at its `\n`), `column` is in **bytes** from the start
/// of the row, not characters or UTF-16 units.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, Hash)]
pub struct TextPoint {
    pub row: usize,
    pub column: usize,
}

impl TextPoint {
    /// The point of byte `offset` in `text`.
    pub fn of_offset(text: &str, offset: usize) -> Result<Self, GrammarError> {
        check_offset(text, offset)?;
        Ok(Self::after(TextPoint::default(), &text[..offset]))
    }

    /// The point reached from `self` by writing `inserted`.
    fn after(self, inserted: &str) -> Self {
        match inserted.rfind('\n') {
            Some(last) => TextPoint {
                row: self.row + inserted.bytes().filter(|&b| b == b'\n').count(),
                column: inserted.len() - last - 1,
            },
            None => TextPoint {
                row: self.row,
                column: self.column + inserted.len(),
            },
        }
    }

    fn to_ts(self) -> Point {
        Point::new(self.row, self.column)
    }
}

/// One change to a document, in the shape tree-sitter wants: where it starts, where the
/// replaced text ended in the old document and where the replacement ends in the new one, in
/// bytes and as points. [`TreeEdit::replacing`] computes it from a range and its replacement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TreeEdit {
    pub start_byte: usize,
    pub old_end_byte: usize,
    pub new_end_byte: usize,
    pub start_point: TextPoint,
    pub old_end_point: TextPoint,
    pub new_end_point: TextPoint,
}

impl TreeEdit {
    /// The edit that replaces `range` of `old_text` with `replacement`.
    pub fn replacing(
        old_text: &str,
        range: Range<usize>,
        replacement: &str,
    ) -> Result<Self, GrammarError> {
        check_range(old_text, &range)?;
        let start_point = TextPoint::of_offset(old_text, range.start)?;
        Ok(TreeEdit {
            start_byte: range.start,
            old_end_byte: range.end,
            new_end_byte: range.start + replacement.len(),
            start_point,
            old_end_point: start_point.after(&old_text[range.clone()]),
            new_end_point: start_point.after(replacement),
        })
    }

    fn to_ts(self) -> InputEdit {
        InputEdit {
            start_byte: self.start_byte,
            old_end_byte: self.old_end_byte,
            new_end_byte: self.new_end_byte,
            start_position: self.start_point.to_ts(),
            old_end_position: self.old_end_point.to_ts(),
            new_end_position: self.new_end_point.to_ts(),
        }
    }
}

/// A parser and the tree of one document's text. The text itself stays with the caller, who
/// passes it to every call that needs it; it must be the text the tree was last parsed from.
pub struct SyntaxTree {
    pub language: Language,
    parser: Parser,
    pub(crate) tree: Tree,
}

impl SyntaxTree {
    pub fn parse(language: Language, text: &str) -> Result<Self, GrammarError> {
        let mut parser = Parser::new();
        parser
            .set_language(&language.tree_sitter_language())
            .map_err(|e| GrammarError::Grammar(e.to_string()))?;
        let tree = parser.parse(text, None).ok_or(GrammarError::ParseFailed)?;
        Ok(SyntaxTree {
            language,
            parser,
            tree,
        })
    }

    /// Applies `edit` to the tree and reparses `new_text` (the whole document after the edit),
    /// reusing the unchanged parts of the old tree. Edits must be applied one at a time, in the
    /// order they were made, each with the text right after it.
    pub fn edit(&mut self, edit: &TreeEdit, new_text: &str) -> Result<(), GrammarError> {
        if edit.old_end_byte < edit.start_byte {
            return Err(GrammarError::InvertedRange {
                start: edit.start_byte,
                end: edit.old_end_byte,
            });
        }
        check_range(new_text, &(edit.start_byte..edit.new_end_byte))?;
        self.tree.edit(&edit.to_ts());
        self.tree = self
            .parser
            .parse(new_text, Some(&self.tree))
            .ok_or(GrammarError::ParseFailed)?;
        Ok(())
    }

    /// Applies several edits, each in the coordinates left by the ones before it, then reparses
    /// `new_text` once.
    pub fn edit_all(&mut self, edits: &[TreeEdit], new_text: &str) -> Result<(), GrammarError> {
        for e in edits {
            if e.old_end_byte < e.start_byte {
                return Err(GrammarError::InvertedRange {
                    start: e.start_byte,
                    end: e.old_end_byte,
                });
            }
            self.tree.edit(&e.to_ts());
        }
        self.tree = self
            .parser
            .parse(new_text, Some(&self.tree))
            .ok_or(GrammarError::ParseFailed)?;
        Ok(())
    }

    /// Replaces `range` of `old_text` (the text of the current tree) with `replacement`,
    /// reparses incrementally and returns the new text.
    pub fn replace(
        &mut self,
        old_text: &str,
        range: Range<usize>,
        replacement: &str,
    ) -> Result<String, GrammarError> {
        let edit = TreeEdit::replacing(old_text, range.clone(), replacement)?;
        let mut new_text = String::with_capacity(old_text.len() + replacement.len());
        new_text.push_str(&old_text[..range.start]);
        new_text.push_str(replacement);
        new_text.push_str(&old_text[range.end..]);
        self.edit(&edit, &new_text)?;
        Ok(new_text)
    }

    pub fn root(&self) -> Node<'_> {
        self.tree.root_node()
    }

    /// The tree as an S-expression (named nodes and field names, no positions).
    pub fn sexp(&self) -> String {
        self.root().to_sexp()
    }

    pub fn has_errors(&self) -> bool {
        self.root().has_error()
    }

    /// Byte ranges of ERROR and MISSING nodes that touch `range`: overlap it or end / start
    /// right at one of its ends (an empty range touches the nodes around its point). An ERROR
    /// node counts once, with whatever it swallowed.
    pub fn errors_near(&self, range: Range<usize>) -> Vec<Range<usize>> {
        let mut out = Vec::new();
        collect_errors(self.root(), &range, &mut out);
        out
    }

    /// `node` and its ancestors up to the root, innermost first. Found in one walk down from the
    /// root: `Node::parent` searches from the root on every call, so climbing with it costs the
    /// square of the depth (thousands of levels in a long broken file).
    pub(crate) fn ancestors<'t>(&'t self, node: Node<'t>) -> Vec<Node<'t>> {
        let mut path = vec![self.root()];
        while let Some(&last) = path.last() {
            if last == node {
                break;
            }
            match last.child_with_descendant(node) {
                Some(child) => path.push(child),
                None => break,
            }
        }
        path.reverse();
        path
    }

    /// The smallest named node covering `range`.
    pub(crate) fn node_covering(&self, range: Range<usize>) -> Node<'_> {
        self.root()
            .named_descendant_for_byte_range(range.start, range.end)
            .unwrap_or(self.root())
    }
}

/// A copy for a snapshot: the tree's nodes are shared (tree-sitter counts references), and the
/// copy gets a parser of its own for the incremental reparses it may do.
impl Clone for SyntaxTree {
    fn clone(&self) -> Self {
        let mut parser = Parser::new();
        // Setting a language that already parsed this tree cannot fail.
        let _ = parser.set_language(&self.language.tree_sitter_language());
        SyntaxTree {
            language: self.language,
            parser,
            tree: self.tree.clone(),
        }
    }
}

/// Short on purpose: a snapshot of a 10,000-line file is logged and debugged too.
impl std::fmt::Debug for SyntaxTree {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let root = self.root();
        f.debug_struct("SyntaxTree")
            .field("language", &self.language)
            .field("bytes", &root.byte_range())
            .field("has_errors", &root.has_error())
            .finish()
    }
}

fn touches(node: &Node, range: &Range<usize>) -> bool {
    node.start_byte() <= range.end && node.end_byte() >= range.start
}

fn collect_errors(node: Node, range: &Range<usize>, out: &mut Vec<Range<usize>>) {
    // `has_error` is cached per subtree, so error-free parts are skipped without a walk.
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn points_count_rows_by_newline_and_columns_in_bytes() {
        let text = "a\r\n\tgröße = \"😀\"\nz";
        let at = |needle: &str| TextPoint::of_offset(text, text.find(needle).unwrap()).unwrap();
        assert_eq!(at("a"), TextPoint { row: 0, column: 0 });
        assert_eq!(at("\r"), TextPoint { row: 0, column: 1 });
        assert_eq!(at("\t"), TextPoint { row: 1, column: 0 });
        // `ö` and `ß` are two bytes each: `=` is at byte column 1 + 7 + 1.
        assert_eq!(at("="), TextPoint { row: 1, column: 9 });
        assert_eq!(at("z"), TextPoint { row: 2, column: 0 });
        assert_eq!(
            TextPoint::of_offset(text, text.len()).unwrap(),
            TextPoint { row: 2, column: 1 }
        );
        let emoji = text.find('😀').unwrap();
        assert_eq!(
            TextPoint::of_offset(text, emoji + 1),
            Err(GrammarError::NotCharBoundary { offset: emoji + 1 })
        );
        assert!(matches!(
            TextPoint::of_offset(text, 99),
            Err(GrammarError::OutOfBounds { offset: 99, .. })
        ));
    }

    #[test]
    #[allow(clippy::reversed_empty_ranges)] // inverted on purpose
    fn an_edit_spells_out_old_and_new_ends() {
        let old = "fn f() {\n    1\n}\n";
        let one = old.find('1').unwrap();
        let e = TreeEdit::replacing(old, one..one + 1, "let x = 1;\n    x").unwrap();
        assert_eq!(e.start_byte, 13);
        assert_eq!(e.old_end_byte, 14);
        assert_eq!(e.new_end_byte, 13 + 16);
        assert_eq!(e.start_point, TextPoint { row: 1, column: 4 });
        assert_eq!(e.old_end_point, TextPoint { row: 1, column: 5 });
        assert_eq!(e.new_end_point, TextPoint { row: 2, column: 5 });
        // Deleting a line break joins rows.
        let e = TreeEdit::replacing(old, 8..9, "").unwrap();
        assert_eq!(e.old_end_point, TextPoint { row: 1, column: 0 });
        assert_eq!(e.new_end_point, TextPoint { row: 0, column: 8 });
        assert!(TreeEdit::replacing(old, 5..4, "").is_err());
    }

    #[test]
    fn edits_that_do_not_fit_the_new_text_are_refused_without_touching_the_tree() {
        let text = "x = 1\n";
        let mut t = SyntaxTree::parse(Language::Python, text).unwrap();
        let before = t.sexp();
        let e = TreeEdit::replacing(text, 4..5, "größe").unwrap();
        // The new text is shorter than the edit says.
        assert!(matches!(
            t.edit(&e, "x = 2\n"),
            Err(GrammarError::OutOfBounds { .. })
        ));
        // The new end falls inside `ö`.
        let e = TreeEdit {
            new_end_byte: 7,
            ..TreeEdit::replacing(text, 4..5, "gr").unwrap()
        };
        assert_eq!(
            t.edit(&e, "x = größe\n"),
            Err(GrammarError::NotCharBoundary { offset: 7 })
        );
        assert_eq!(t.sexp(), before);
    }
    #[test]
    fn ancestors_are_the_parent_chain() {
        let text = "fn f() { if a { g(1 + 2 * 3); } }";
        let tree = SyntaxTree::parse(Language::Rust, text).unwrap();
        let three = text.find('3').unwrap();
        let leaf = tree.root().descendant_for_byte_range(three, three).unwrap();
        let mut chain = vec![leaf];
        while let Some(p) = chain.last().unwrap().parent() {
            chain.push(p);
        }
        assert_eq!(tree.ancestors(leaf), chain);
        assert_eq!(tree.ancestors(tree.root()), vec![tree.root()]);
    }
}
