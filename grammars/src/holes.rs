//! Holes: the places in code its author left to fill (`todo!()`, `pass`, `...`, `TODO`
//! comments, `raise NotImplementedError`, `panic("not implemented")`, …).

use std::ops::Range;

use tree_sitter::Node;

use crate::language::Language;
use crate::tree::SyntaxTree;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HoleMarkers {
    /// Rust macros that mark a hole (`todo!`, `unimplemented!`).
    pub macros: Vec<String>,
    /// Words that make a comment a hole.
    pub comment_tags: Vec<String>,
    /// Text inside a `raise` / `throw` / `panic(...)` that makes it a hole (case-insensitive).
    pub error_phrases: Vec<String>,
    /// Python's `pass` and `...` statements when they are a block's only statement.
    pub python_placeholders: bool,
}

impl Default for HoleMarkers {
    fn default() -> Self {
        HoleMarkers {
            macros: vec!["todo".into(), "unimplemented".into()],
            comment_tags: vec!["TODO".into(), "FIXME".into()],
            error_phrases: vec![
                "notimplemented".into(),
                "not implemented".into(),
                "todo".into(),
            ],
            python_placeholders: true,
        }
    }
}

impl HoleMarkers {
    /// Adds user markers: `name!` is a macro, anything else a comment tag.
    pub fn with_extra(mut self, extra: &[String]) -> Self {
        for m in extra {
            match m.strip_suffix('!') {
                Some(mac) => self.macros.push(mac.to_string()),
                None => self.comment_tags.push(m.clone()),
            }
        }
        self
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HoleKind {
    Macro,
    Placeholder,
    Comment,
    NotImplemented,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hole {
    /// What to replace: the whole marker statement (with its `;`) where it is one.
    pub range: Range<usize>,
    pub kind: HoleKind,
}

/// Holes inside `within`, in document order.
pub fn find_holes(
    tree: &SyntaxTree,
    text: &str,
    within: Range<usize>,
    markers: &HoleMarkers,
) -> Vec<Hole> {
    let mut out = Vec::new();
    let mut stack = vec![tree.root()];
    while let Some(n) = stack.pop() {
        if n.end_byte() <= within.start || n.start_byte() >= within.end {
            continue;
        }
        if let Some(kind) = hole_kind(tree.language, n, text, markers) {
            let range = statement_around(n, text);
            if range.start >= within.start && range.end <= within.end {
                out.push(Hole { range, kind });
                continue;
            }
        }
        let mut cursor = n.walk();
        stack.extend(n.children(&mut cursor));
    }
    out.sort_by_key(|h| h.range.start);
    out.dedup_by(|b, a| b.range.start < a.range.end);
    out
}

fn contains_phrase(text: &str, phrases: &[String]) -> bool {
    let lower = text.to_lowercase();
    phrases.iter().any(|p| lower.contains(&p.to_lowercase()))
}

fn hole_kind(lang: Language, n: Node, text: &str, markers: &HoleMarkers) -> Option<HoleKind> {
    let node_text = &text[n.byte_range()];
    match n.kind() {
        "comment" | "line_comment" | "block_comment" => {
            let is_tag = markers.comment_tags.iter().any(|tag| {
                node_text.match_indices(tag.as_str()).any(|(i, _)| {
                    let after = node_text[i + tag.len()..].chars().next();
                    !after.is_some_and(|c| c.is_alphanumeric() || c == '_')
                })
            });
            is_tag.then_some(HoleKind::Comment)
        }
        "macro_invocation" if lang == Language::Rust => {
            let name = n
                .child_by_field_name("macro")
                .map(|m| &text[m.byte_range()])?;
            markers
                .macros
                .iter()
                .any(|m| m == name)
                .then_some(HoleKind::Macro)
        }
        "pass_statement" if markers.python_placeholders => Some(HoleKind::Placeholder),
        "expression_statement" if lang == Language::Python && markers.python_placeholders => {
            (node_text.trim() == "...").then_some(HoleKind::Placeholder)
        }
        "raise_statement" | "throw_statement" => {
            contains_phrase(node_text, &markers.error_phrases).then_some(HoleKind::NotImplemented)
        }
        "call_expression" if lang == Language::Go => {
            let callee = n
                .child_by_field_name("function")
                .map(|f| &text[f.byte_range()]);
            (callee == Some("panic") && contains_phrase(node_text, &markers.error_phrases))
                .then_some(HoleKind::NotImplemented)
        }
        _ => None,
    }
}

/// A marker that is a whole statement (`todo!();`, `panic("todo")`) is replaced with its
/// statement, so the filled code decides its own terminator.
fn statement_around(n: Node, text: &str) -> std::ops::Range<usize> {
    if let Some(parent) = n.parent() {
        if parent.kind() == "expression_statement"
            && text[parent.byte_range()].trim_end_matches(';').trim() == text[n.byte_range()].trim()
        {
            return parent.byte_range();
        }
    }
    n.byte_range()
}
