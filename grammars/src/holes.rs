//! Holes: the places in code its author left to fill (`todo!()`, `pass`, `...`, `TODO`
//! comments, `raise NotImplementedError`, `panic("not implemented")`, …), so the server can
//! mask them all and fill them in one denoising run.

use std::ops::Range;

use tree_sitter::Node;

use crate::language::Language;
use crate::syntax_tree::SyntaxTree;

/// What counts as a hole. [`HoleMarkers::default`] knows every language's markers;
/// [`HoleMarkers::for_language`] only one's. Every field may be changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HoleMarkers {
    /// Rust macros that mark a hole, without the `!` (`todo`, `unimplemented`).
    pub macros: Vec<String>,
    /// Words that make a comment a hole, matched case-sensitively as whole words (`TODO`
    /// matches `// TODO:` and `/* TODO-later */`, not `TODOS` or `// todo`).
    pub comment_tags: Vec<String>,
    /// Text that makes a `raise` / `throw` statement or a `panic` call a hole, matched
    /// case-insensitively (`raise NotImplementedError`, `throw new Error("Not implemented")`).
    pub error_phrases: Vec<String>,
    /// Python's `pass` and `...` when one is the only statement of its suite.
    pub python_placeholders: bool,
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

impl Default for HoleMarkers {
    fn default() -> Self {
        HoleMarkers {
            macros: strings(&["todo", "unimplemented"]),
            comment_tags: strings(&["TODO", "FIXME"]),
            error_phrases: strings(&["notimplemented", "not implemented", "todo"]),
            python_placeholders: true,
        }
    }
}

impl HoleMarkers {
    /// The markers that mean something in `language` (the others are left empty / off).
    pub fn for_language(language: Language) -> Self {
        let all = HoleMarkers::default();
        HoleMarkers {
            macros: if language == Language::Rust {
                all.macros
            } else {
                Vec::new()
            },
            python_placeholders: language == Language::Python,
            ..all
        }
    }

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

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HoleKind {
    /// `todo!()`, `unimplemented!(…)`.
    Macro,
    /// Python `pass` / `...`.
    Placeholder,
    /// A comment with a tag (`// TODO: …`).
    Comment,
    /// `raise NotImplementedError`, `throw new Error("not implemented")`, `panic!("todo")`.
    NotImplemented,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hole {
    /// What to replace. The marker node itself (the macro invocation, the comment, the `raise`
    /// / `throw` / `pass` statement), widened to its expression statement where it is one:
    /// `todo!();` as a statement is replaced *with* its `;`, so the fill decides its own
    /// terminator (a tail expression has none), while `let x = todo!();` gives `todo!()`.
    pub range: Range<usize>,
    pub kind: HoleKind,
}

/// Holes that lie wholly inside `within`, in document order. `within` is usually the whole
/// text, or the body of the function around the cursor
/// ([`SpanRequest::EnclosingFunctionBody`](crate::SpanRequest::EnclosingFunctionBody)).
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
                // Nothing inside a hole is another hole.
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

/// `tag` occurs in `text` as a whole word.
fn has_tag(text: &str, tag: &str) -> bool {
    let word = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_');
    !tag.is_empty()
        && text.match_indices(tag).any(|(i, _)| {
            !word(text[..i].chars().next_back()) && !word(text[i + tag.len()..].chars().next())
        })
}

fn hole_kind(lang: Language, n: Node, text: &str, markers: &HoleMarkers) -> Option<HoleKind> {
    let node_text = &text[n.byte_range()];
    match n.kind() {
        "comment" | "line_comment" | "block_comment" => markers
            .comment_tags
            .iter()
            .any(|tag| has_tag(node_text, tag))
            .then_some(HoleKind::Comment),
        "macro_invocation" if lang == Language::Rust => {
            let name = &text[n.child_by_field_name("macro")?.byte_range()];
            if markers.macros.iter().any(|m| m == name) {
                Some(HoleKind::Macro)
            } else {
                (name == "panic" && contains_phrase(node_text, &markers.error_phrases))
                    .then_some(HoleKind::NotImplemented)
            }
        }
        "pass_statement" | "expression_statement"
            if lang == Language::Python && markers.python_placeholders =>
        {
            let placeholder = n.kind() == "pass_statement" || node_text.trim() == "...";
            (placeholder && only_statement(n)).then_some(HoleKind::Placeholder)
        }
        "raise_statement" | "throw_statement" => {
            contains_phrase(node_text, &markers.error_phrases).then_some(HoleKind::NotImplemented)
        }
        "call_expression" if lang == Language::Go => {
            let callee = &text[n.child_by_field_name("function")?.byte_range()];
            (callee == "panic" && contains_phrase(node_text, &markers.error_phrases))
                .then_some(HoleKind::NotImplemented)
        }
        _ => None,
    }
}

/// A `pass` among other statements is a no-op, not a hole: only a suite's sole statement
/// (comments aside) stands for a body still to write.
fn only_statement(n: Node) -> bool {
    let Some(parent) = n.parent() else {
        return false;
    };
    let mut cursor = parent.walk();
    let statements = parent
        .named_children(&mut cursor)
        .filter(|c| c.kind() != "comment")
        .count();
    parent.kind() == "block" && statements == 1
}

/// A marker that is a whole statement (`todo!();`, `panic("todo")`) is replaced with its
/// statement, so the filled code decides its own terminator.
fn statement_around(n: Node, text: &str) -> Range<usize> {
    if let Some(parent) = n.parent() {
        if parent.kind() == "expression_statement"
            && text[parent.byte_range()].trim_end_matches(';').trim() == text[n.byte_range()].trim()
        {
            return parent.byte_range();
        }
    }
    n.byte_range()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn holes(lang: Language, text: &str, markers: &HoleMarkers) -> Vec<(&'static str, String)> {
        let t = SyntaxTree::parse(lang, text).unwrap();
        find_holes(&t, text, 0..text.len(), markers)
            .into_iter()
            .map(|h| {
                let kind = match h.kind {
                    HoleKind::Macro => "macro",
                    HoleKind::Placeholder => "placeholder",
                    HoleKind::Comment => "comment",
                    HoleKind::NotImplemented => "not-implemented",
                };
                (kind, text[h.range].to_string())
            })
            .collect()
    }

    #[test]
    fn tags_are_whole_words() {
        assert!(has_tag("// TODO: x", "TODO"));
        assert!(has_tag("/*TODO*/", "TODO"));
        assert!(has_tag("# größe TODO-later", "TODO"));
        assert!(!has_tag("// TODOS", "TODO"));
        assert!(!has_tag("// MYTODO", "TODO"));
        assert!(!has_tag("// éTODO", "TODO"));
        assert!(!has_tag("// todo", "TODO"));
        assert!(!has_tag("// anything", ""));
    }

    #[test]
    fn a_pass_among_statements_is_not_a_hole() {
        let py = "def f(xs):\n    # keep\n    pass\n\nfor x in xs:\n    print(x)\n    pass\n\nclass E(Exception): ...\n";
        assert_eq!(
            holes(Language::Python, py, &HoleMarkers::default()),
            vec![
                ("placeholder", "pass".into()),
                ("placeholder", "...".into())
            ]
        );
        // `...` as a value is not a statement.
        let py = "def f(x=...):\n    return x[...]\n";
        assert!(holes(Language::Python, py, &HoleMarkers::default()).is_empty());
        let off = HoleMarkers {
            python_placeholders: false,
            ..HoleMarkers::default()
        };
        assert!(holes(Language::Python, "def f():\n    pass\n", &off).is_empty());
    }

    #[test]
    fn rust_panics_with_a_phrase_and_other_macros() {
        let rs = "fn f() {\n    panic!(\"not implemented yet\");\n    panic!(\"bad input\");\n    println!(\"todo list\");\n    unimplemented!()\n}\n";
        assert_eq!(
            holes(Language::Rust, rs, &HoleMarkers::default()),
            vec![
                ("not-implemented", "panic!(\"not implemented yet\");".into()),
                ("macro", "unimplemented!()".into()),
            ]
        );
    }

    #[test]
    fn markers_per_language_and_configurable() {
        let rs = "fn f() { todo!() } // FIXME\n";
        let py = HoleMarkers::for_language(Language::Python);
        assert!(py.macros.is_empty() && py.python_placeholders);
        let rust = HoleMarkers::for_language(Language::Rust);
        assert_eq!(rust.macros, ["todo", "unimplemented"]);
        assert!(!rust.python_placeholders);
        assert_eq!(holes(Language::Rust, rs, &rust).len(), 2);
        // Markers of another language do not apply.
        assert_eq!(
            holes(Language::Rust, rs, &py),
            vec![("comment", "// FIXME".into())]
        );
        let mut only_hack = HoleMarkers::for_language(Language::Go);
        only_hack.comment_tags = vec!["HACK".into()];
        let go = "package p\n\n// TODO: no\n// HACK: yes\nfunc f() {}\n";
        assert_eq!(
            holes(Language::Go, go, &only_hack),
            vec![("comment", "// HACK: yes".into())]
        );
    }

    #[test]
    fn holes_in_the_enclosing_function_body() {
        let rs = "fn outer() {\n    let f = |x: i32| todo!();\n    todo!()\n}\nconst C: i32 = 1;\n";
        let t = SyntaxTree::parse(Language::Rust, rs).unwrap();
        let body = |at: usize| {
            crate::select_span(
                &t,
                rs,
                &crate::SpanRequest::EnclosingFunctionBody { offset: at },
            )
            .map(|s| s.range)
        };
        let inner = rs.find("todo!();").unwrap();
        // The closure's body is an expression: that expression is the body.
        assert_eq!(body(inner), Ok(inner..inner + 7));
        let outer = body(rs.find("let").unwrap()).unwrap();
        assert_eq!(outer, 12..rs.find("}\nconst").unwrap());
        let found = find_holes(&t, rs, outer, &HoleMarkers::default());
        assert_eq!(found.len(), 2);
        assert!(body(rs.find("const").unwrap()).is_err());
    }
}
