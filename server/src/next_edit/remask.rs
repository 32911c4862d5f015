//! The re-mask rule: which tokens the latest edit made inconsistent, so the local model can
//! mask them again and denoise them with everything else in view.
//!
//! - An identifier or literal spelled `old` became `new` ([`Followup::Respelled`]): the other
//!   tokens spelled `old` in its scope are inconsistent now: a variable's in its function, a
//!   member's (field, method, attribute) in the window, a literal's in the parallel lines
//!   around it. They are masked together and tied: one name, one answer.
//! - A function's parameter list changed ([`Followup::Parameters`]): its calls in the window
//!   that pass fewer arguments than it now takes are inconsistent; the nearest one's argument
//!   list is masked with room for the new argument.
//!
//! Edits this rule does not understand (a comment, a new statement, a change that spans
//! several tokens elsewhere) make nothing inconsistent: no suggestion.

use std::ops::Range;

use dllm_grammars::span::enclosing_function;
use dllm_grammars::tokens::{
    calls_to, leaf_around, leaves_spelled, parameters_around, Call, Leaf, LeafKind, Parameters,
};
use dllm_grammars::SyntaxTree;

use crate::history::PastEdit;

/// What the latest edit asks of the code around it.
#[derive(Debug, Clone, PartialEq)]
pub enum Followup {
    /// The token at `edited` was spelled `old` and is now `new`.
    Respelled {
        old: String,
        new: String,
        kind: LeafKind,
        edited: Range<usize>,
    },
    /// The parameter list of `params.function` changed at `edited`.
    Parameters {
        params: Parameters,
        edited: Range<usize>,
    },
}

impl Followup {
    /// Where the edit is: suggestions look for the next inconsistency after it.
    pub fn edited(&self) -> &Range<usize> {
        match self {
            Followup::Respelled { edited, .. } | Followup::Parameters { edited, .. } => edited,
        }
    }
}

/// The tokens to mask again.
#[derive(Debug, Clone, PartialEq)]
pub struct Remask {
    pub followup: Followup,
    /// The ranges to mask, in order; tied (one text for all) for a respelled token.
    pub spans: Vec<Range<usize>>,
    /// Which span the suggestion edits: the first inconsistency after the edit, else the
    /// nearest before it.
    pub target: usize,
}

/// At most this many masks in one request.
const MAX_SPANS: usize = 8;

/// How many lines apart a literal's parallel lines may be.
const PARALLEL_LINES: usize = 8;

/// The latest edit that is still where it was made and kept its text.
pub fn latest_edit(history: &[PastEdit]) -> Option<&PastEdit> {
    history
        .last()
        .filter(|e| !e.overwritten && !e.elided && e.new_text != e.old_text)
}

/// What `edit` asks of the code around it, read off the current `text` and its `tree`.
pub fn understand(tree: &SyntaxTree, text: &str, edit: &PastEdit) -> Option<Followup> {
    let range = edit.range();
    if text.get(range.clone()) != Some(edit.new_text.as_str()) {
        return None;
    }
    let leaf = leaf_around(tree, text, range.clone()).ok().flatten();
    if let Some(followup) = leaf.and_then(|leaf| respelled(text, edit, leaf)) {
        return Some(followup);
    }
    // Not a token respelled (a new parameter typed word by word ends on a new name, `usize`
    // of `, extra: usize`): a change of a parameter list, if it is in one.
    let params = parameters_around(tree, text, range.clone())
        .ok()
        .flatten()?;
    Some(Followup::Parameters {
        params,
        edited: range,
    })
}

/// The token's old and new spelling, when both are tokens of the same kind.
fn respelled(text: &str, edit: &PastEdit, leaf: Leaf) -> Option<Followup> {
    let range = edit.range();
    let new = text.get(leaf.range.clone())?.to_string();
    let old = format!(
        "{}{}{}",
        text.get(leaf.range.start..range.start)?,
        edit.old_text,
        text.get(range.end..leaf.range.end)?
    );
    let valid = match leaf.kind {
        LeafKind::Identifier | LeafKind::Member => is_identifier(&old),
        LeafKind::Number => !old.is_empty() && !old.contains(char::is_whitespace),
        LeafKind::String => is_quoted(&old),
    };
    (valid && old != new).then_some(Followup::Respelled {
        old,
        new,
        kind: leaf.kind,
        edited: leaf.range,
    })
}

fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_alphabetic() || c == '_' || c == '$')
        && chars.all(|c| c.is_alphanumeric() || c == '_' || c == '$')
}

fn is_quoted(s: &str) -> bool {
    let (Some(first), Some(last)) = (s.chars().next(), s.chars().last()) else {
        return false;
    };
    s.len() >= 2 && first == last && matches!(first, '"' | '\'' | '`') && !s.contains('\n')
}

/// The tokens `followup` makes inconsistent inside `window`, or `None` when there are none.
pub fn inconsistent(
    tree: &SyntaxTree,
    text: &str,
    followup: Followup,
    window: Range<usize>,
) -> Option<Remask> {
    let spans = match &followup {
        Followup::Respelled {
            old, kind, edited, ..
        } => same_spelling(tree, text, old, *kind, edited, window),
        Followup::Parameters { params, edited } => short_call(tree, text, params, edited, window)
            .into_iter()
            .collect(),
    };
    let edited = followup.edited().clone();
    let target = spans
        .iter()
        .position(|s| s.start >= edited.end)
        .or_else(|| spans.len().checked_sub(1))?;
    let (spans, target) = nearest(spans, target, MAX_SPANS);
    Some(Remask {
        followup,
        spans,
        target,
    })
}

/// At most `max` of `spans` (in order): the target and those nearest it. Each mask costs
/// its budget of the model's context, and a name used everywhere would crowd out the code
/// around it. Answers the kept spans and the target's index among them.
fn nearest(spans: Vec<Range<usize>>, target: usize, max: usize) -> (Vec<Range<usize>>, usize) {
    if spans.len() <= max {
        return (spans, target);
    }
    let first = target.saturating_sub(max / 2).min(spans.len() - max);
    (spans[first..first + max].to_vec(), target - first)
}

/// The other tokens of `kind` spelled `old` in the edited token's scope.
fn same_spelling(
    tree: &SyntaxTree,
    text: &str,
    old: &str,
    kind: LeafKind,
    edited: &Range<usize>,
    window: Range<usize>,
) -> Vec<Range<usize>> {
    let scope = match kind {
        LeafKind::Identifier => variable_scope(tree, text, edited).unwrap_or(window.clone()),
        LeafKind::Member | LeafKind::Number | LeafKind::String => window.clone(),
    };
    let within = scope.start.max(window.start)..scope.end.min(window.end);
    leaves_spelled(tree, text, old, within)
        .into_iter()
        .filter(|l| l.kind == kind && (l.range.end <= edited.start || l.range.start >= edited.end))
        .filter(|l| match kind {
            LeafKind::Number | LeafKind::String => parallel(text, edited, &l.range),
            LeafKind::Identifier | LeafKind::Member => true,
        })
        .map(|l| l.range)
        .collect()
}

/// Where a variable named at `edited` lives: the function whose parameter list or body holds
/// it (named or not). A function's own name (or anything else in its signature) is seen
/// outside it: `None`.
fn variable_scope(tree: &SyntaxTree, text: &str, edited: &Range<usize>) -> Option<Range<usize>> {
    if let Some(params) = parameters_around(tree, text, edited.clone()).ok().flatten() {
        return Some(params.owner);
    }
    let function = enclosing_function(tree, text, edited.start).ok()??;
    let in_body = function.body.start <= edited.start && edited.end <= function.body.end;
    in_body.then_some(function.whole)
}

/// Whether the lines holding `a` and `b` are parallel: close, equally indented, and alike
/// up to the token (`width = 10` and `height = 10` are; `x = 10` and `return 10` are not).
fn parallel(text: &str, a: &Range<usize>, b: &Range<usize>) -> bool {
    let line_of = |r: &Range<usize>| {
        let start = text[..r.start].rfind('\n').map_or(0, |i| i + 1);
        let end = text[r.end..].find('\n').map_or(text.len(), |i| r.end + i);
        (start, end)
    };
    let ((sa, _), (sb, _)) = (line_of(a), line_of(b));
    let between = &text[sa.min(sb)..sa.max(sb)];
    if between.matches('\n').count() > PARALLEL_LINES {
        return false;
    }
    let indent = |s: usize| &text[s..s + text[s..].len() - text[s..].trim_start().len()];
    let (ia, ib) = (indent(sa), indent(sb));
    let head = |s: usize, r: &Range<usize>| text[s..r.start].trim_start().to_string();
    ia == ib && same_shape(&head(sa, a), &head(sb, b))
}

/// Two line heads (the text before the token) are alike when they have the same punctuation
/// in the same order: the names may differ, the structure may not.
fn same_shape(a: &str, b: &str) -> bool {
    let shape = |s: &str| -> String {
        s.chars()
            .filter(|c| !c.is_alphanumeric() && *c != '_' && !c.is_whitespace())
            .collect()
    };
    !a.is_empty() && !b.is_empty() && shape(a) == shape(b)
}

/// The call of `params.function` nearest after the edit (else before) that passes fewer
/// arguments than the function now requires: its argument list, parentheses excluded.
fn short_call(
    tree: &SyntaxTree,
    text: &str,
    params: &Parameters,
    edited: &Range<usize>,
    window: Range<usize>,
) -> Option<Range<usize>> {
    let name = params.function.as_deref()?;
    let calls: Vec<Call> = calls_to(tree, text, name, window)
        .into_iter()
        .filter(|c| c.count < params.required && !c.arguments.contains(&edited.start))
        .collect();
    let call = calls
        .iter()
        .find(|c| c.arguments.start >= edited.end)
        .or(calls.last())?;
    Some(call.arguments.start + 1..call.arguments.end - 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use dllm_grammars::Language;

    /// `before` with `old` (its first occurrence after `from`) typed over with `new`: the
    /// text, its tree and the history's edit.
    fn edited(
        language: Language,
        before: &str,
        from: &str,
        old: &str,
        new: &str,
    ) -> (String, SyntaxTree, PastEdit) {
        let at = before.find(from).unwrap() + from.find(old).unwrap();
        let mut text = before.to_string();
        text.replace_range(at..at + old.len(), new);
        let tree = SyntaxTree::parse(language, &text).unwrap();
        let edit = PastEdit {
            start: at,
            old_text: old.into(),
            new_text: new.into(),
            version: 2,
            overwritten: false,
            elided: false,
        };
        (text, tree, edit)
    }

    fn remask(
        language: Language,
        before: &str,
        from: &str,
        old: &str,
        new: &str,
    ) -> Option<(String, Vec<String>, usize)> {
        let (text, tree, edit) = edited(language, before, from, old, new);
        let followup = understand(&tree, &text, &edit)?;
        let r = inconsistent(&tree, &text, followup, 0..text.len())?;
        let spans = r
            .spans
            .iter()
            .map(|s| text[s.clone()].to_string())
            .collect();
        Some((text, spans, r.target))
    }

    #[test]
    fn a_renamed_parameter_masks_its_uses_in_its_function_only() {
        let before = "fn f(count: u32) -> u32 {\n    count + count\n}\nfn g(count: u32) -> u32 {\n    count\n}\n";
        let (text, spans, target) =
            remask(Language::Rust, before, "f(count", "count", "total").unwrap();
        assert_eq!(spans, ["count", "count"]);
        assert_eq!(target, 0);
        assert!(text.starts_with("fn f(total: u32)"));
    }

    #[test]
    fn a_partly_retyped_name_is_understood_whole() {
        let before = "def f(items):\n    return len(items)\n";
        let (text, tree, edit) = edited(Language::Python, before, "f(items", "items", "rows");
        let followup = understand(&tree, &text, &edit).unwrap();
        assert!(
            matches!(&followup, Followup::Respelled { old, new, .. } if old == "items" && new == "rows")
        );
        // Typing "_list" after "items" is the name `items` → `items_list`.
        let at = before.find("items").unwrap() + "items".len();
        let mut text = before.to_string();
        text.insert_str(at, "_list");
        let tree = SyntaxTree::parse(Language::Python, &text).unwrap();
        let edit = PastEdit {
            start: at,
            old_text: String::new(),
            new_text: "_list".into(),
            version: 2,
            overwritten: false,
            elided: false,
        };
        let followup = understand(&tree, &text, &edit).unwrap();
        assert!(
            matches!(&followup, Followup::Respelled { old, new, .. } if old == "items" && new == "items_list")
        );
    }

    #[test]
    fn a_renamed_field_masks_its_uses_across_methods() {
        let before = "class A:\n    def f(self):\n        self.count = 0\n\n    def g(self):\n        return self.count\n";
        let (_, spans, _) =
            remask(Language::Python, before, "self.count", "count", "total").unwrap();
        assert_eq!(spans, ["count"]);
    }

    #[test]
    fn a_literal_follows_into_parallel_lines_only() {
        let before = "cfg.width = 10\ncfg.height = 10\nreturn_value = f(10)\n";
        let (_, spans, _) = remask(Language::Python, before, "width = 10", "10", "20").unwrap();
        assert_eq!(spans, ["10"]);
    }

    #[test]
    fn a_new_parameter_masks_the_next_short_call() {
        let before = "def add(a, b):\n    return a + b\n\nadd(1, 2)\nadd(3, 4)\n";
        let (text, spans, target) = remask(Language::Python, before, "a, b", "b", "b, c")
            .unwrap_or_else(|| {
                // `b` → `b, c` spans two tokens: a parameter-list change.
                panic!("understood")
            });
        assert_eq!(spans, ["1, 2"]);
        assert_eq!(target, 0);
        assert!(text.contains("def add(a, b, c)"));
    }

    #[test]
    fn at_most_a_few_masks_around_the_target() {
        let spans: Vec<_> = (0..20).map(|i| i * 10..i * 10 + 3).collect();
        let (kept, target) = nearest(spans.clone(), 15, 8);
        assert_eq!((kept.len(), &kept[target]), (8, &spans[15]));
        assert_eq!(kept[0], spans[11]);
        let (kept, target) = nearest(spans.clone(), 1, 8);
        assert_eq!((kept[0].clone(), target), (spans[0].clone(), 1));
        let (kept, target) = nearest(spans[..3].to_vec(), 2, 8);
        assert_eq!((kept.len(), target), (3, 2));
    }

    #[test]
    fn a_parameter_typed_word_by_word_is_a_parameter_list_change() {
        // `, extra: usize` typed: the history's latest edit is the word `usize`.
        let before = "fn add(a: i32) -> i32 { a }
fn g() { add(1); }
";
        let text = before.replacen("a: i32)", "a: i32, extra: usize)", 1);
        let tree = SyntaxTree::parse(Language::Rust, &text).unwrap();
        let at = text.find("usize").unwrap();
        let edit = PastEdit {
            start: at,
            old_text: String::new(),
            new_text: "usize".into(),
            version: 9,
            overwritten: false,
            elided: false,
        };
        let followup = understand(&tree, &text, &edit).unwrap();
        assert!(matches!(&followup, Followup::Parameters { params, .. } if params.required == 2));
        let r = inconsistent(&tree, &text, followup, 0..text.len()).unwrap();
        assert_eq!(&text[r.spans[r.target].clone()], "1");
    }

    #[test]
    fn an_anonymous_functions_parameter_is_in_scope_in_that_function_only() {
        let before =
            "a.forEach(function (key) { use(key); });\nb.forEach(function (key) { use(key); });\n";
        let (_, spans, _) = remask(Language::JavaScript, before, "(key)", "key", "name").unwrap();
        assert_eq!(spans.len(), 1);
        let before =
            "package p\nfunc f() {\n\tg(func(c int) { h(c) })\n\tg(func(c int) { h(c) })\n}\n";
        let (text, spans, target) = remask(Language::Go, before, "(c int", "c", "ctx").unwrap();
        assert_eq!(spans, ["c"]);
        let first = text.find("h(").unwrap();
        assert!(text[first..].starts_with("h(c)") && target == 0);
    }

    #[test]
    fn a_new_parameter_with_a_default_asks_nothing_of_the_calls() {
        let before = "def add(a, b):\n    return a + b\n\nadd(1, 2)\n";
        assert_eq!(
            remask(Language::Python, before, "a, b", "b", "b, c=0"),
            None
        );
    }

    #[test]
    fn edits_the_rule_does_not_understand_make_nothing_inconsistent() {
        let before = "fn f(x: u32) -> u32 {\n    // double it\n    x * 2\n}\n";
        // A comment's word.
        assert_eq!(
            remask(Language::Rust, before, "double", "double", "twice"),
            None
        );
        // A name with no other use.
        let before = "fn f(x: u32) -> u32 {\n    let y = 2;\n    x * 2\n}\n";
        assert_eq!(remask(Language::Rust, before, "let y", "y", "z"), None);
    }
}
