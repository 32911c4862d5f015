//! Making the cases from held-out files: for each language, files in a seeded order, at most
//! one case of each kind per file, until each kind has its quota.
//!
//! Every edit's "next" place is the nearest one after it in the window of
//! [`window::WINDOW_LINES`] lines around the cursor, else the nearest before it. A candidate
//! whose name also appears, as a whole word, in a comment or string between the edit and that
//! place is dropped: whether the comment should change first is a matter of taste.

use std::collections::BTreeMap;
use std::ops::Range;

use dllm_grammars::edits::{self, LiteralKind};
use dllm_grammars::{Language, SyntaxTree};
use dllm_ls::next_edit::window;

use super::naming::{changed_literal, renamed, Style};
use super::{nearest, whole_word_occurrences, Case, Expected, Kind, Replacement, Rng};

/// A held-out file.
pub struct Source<'a> {
    pub lang: &'a str,
    pub path: &'a str,
    pub text: &'a str,
    pub language: Language,
}

/// How many cases of each kind, per language.
pub struct Quota {
    pub per_kind: usize,
    pub per_none_kind: usize,
}

/// The cases, language by language and kind by kind.
pub fn cases(sources: &[Source], quota: &Quota, rng: &mut Rng) -> Vec<Case> {
    let mut by_lang: BTreeMap<&str, Vec<&Source>> = BTreeMap::new();
    for s in sources {
        by_lang.entry(s.lang).or_default().push(s);
    }
    let mut out = Vec::new();
    for files in by_lang.values_mut() {
        rng.shuffle(files);
        let mut taken: BTreeMap<Kind, Vec<Case>> = BTreeMap::new();
        for file in files.iter() {
            let Ok(tree) = SyntaxTree::parse(file.language, file.text) else {
                continue;
            };
            if tree.has_errors() {
                continue;
            }
            let maker = Maker { file, tree: &tree };
            for case in maker.one_of_each(rng) {
                let want = if case.kind.expects_edit() {
                    quota.per_kind
                } else {
                    quota.per_none_kind
                };
                let list = taken.entry(case.kind).or_default();
                if list.len() < want {
                    list.push(case);
                }
            }
        }
        out.extend(taken.into_values().flatten());
    }
    out
}

struct Maker<'a> {
    file: &'a Source<'a>,
    tree: &'a SyntaxTree,
}

impl Maker<'_> {
    fn text(&self) -> &str {
        self.file.text
    }

    /// At most one case of each kind from this file, each picked at random among its
    /// candidates.
    fn one_of_each(&self, rng: &mut Rng) -> Vec<Case> {
        self.candidates(rng)
            .into_values()
            .map(|mut list| list.swap_remove(rng.below(list.len())))
            .collect()
    }

    /// Every case this file offers, by kind.
    fn candidates(&self, rng: &mut Rng) -> BTreeMap<Kind, Vec<Case>> {
        let mut candidates: BTreeMap<Kind, Vec<Case>> = BTreeMap::new();
        let mut add = |case: Option<Case>| {
            if let Some(c) = case {
                candidates.entry(c.kind).or_default().push(c);
            }
        };
        for p in edits::parameters(self.tree, self.text()) {
            add(self.renamed_parameter(&p, rng));
        }
        for f in edits::field_definitions(self.tree, self.text()) {
            add(self.renamed_field(f, rng));
        }
        let calls = edits::calls(self.tree);
        let definitions = edits::function_definitions(self.tree);
        for d in &definitions {
            add(self.added_parameter(d, &definitions, &calls));
        }
        let literals = edits::literals(self.tree, self.text());
        for (i, _) in literals.iter().enumerate() {
            add(self.changed_literal(&literals, i));
        }
        for c in edits::comments(self.tree) {
            add(self.comment_edit(c, rng));
        }
        for d in &definitions {
            add(self.blank_line(d));
        }
        candidates
    }

    fn case(&self, kind: Kind, edit: Replacement, expected: Expected) -> Case {
        Case::new(
            self.file.lang,
            self.file.path,
            kind,
            self.text(),
            edit,
            expected,
        )
    }

    /// The window around the end of an edit of `range` writing `len` bytes, in the text before
    /// the edit (an edit within one line moves no line).
    fn window(&self, range: &Range<usize>) -> Range<usize> {
        window::around(self.text(), range.end, window::WINDOW_LINES)
    }

    /// Whether `name` appears as a whole word between `a` and `b` other than as one of `known`
    /// (the uses the tree found): in a comment or a string.
    fn mentioned_between(&self, name: &str, a: usize, b: usize, known: &[Range<usize>]) -> bool {
        let (from, to) = (a.min(b), a.max(b));
        whole_word_occurrences(self.text(), name, from..to)
            .iter()
            .any(|r| !known.contains(r))
    }

    /// The rename case of `name` at `at`, with its other uses `uses` (tree-found, in the
    /// window), or `None` when the truth is unclear.
    fn rename(
        &self,
        kind: Kind,
        at: Range<usize>,
        uses: Vec<Range<usize>>,
        all_known: &[Range<usize>],
        rng: &mut Rng,
    ) -> Option<Case> {
        let text = self.text();
        let name = &text[at.clone()];
        let new = renamed(name, Style::of(self.file.lang), text, rng)?;
        let edit = Replacement {
            range: at.clone(),
            text: new.clone(),
        };
        let next = nearest(&uses, at.start, at.end)?;
        let between_end = if next.start >= at.end {
            next.start
        } else {
            next.end
        };
        let edge = if next.start >= at.end {
            at.end
        } else {
            at.start
        };
        if self.mentioned_between(name, edge, between_end, all_known) {
            return None;
        }
        // Uses after the edit move by its change in length.
        let shift = |r: &Range<usize>| {
            if r.start >= at.end {
                r.start + new.len() - at.len()..r.end + new.len() - at.len()
            } else {
                r.clone()
            }
        };
        let expected = Replacement {
            range: shift(&next),
            text: new,
        };
        Some(self.case(kind, edit, Expected::Replace(expected)))
    }

    fn renamed_parameter(&self, p: &edits::Parameter, rng: &mut Rng) -> Option<Case> {
        let text = self.text();
        let name = &text[p.name.clone()];
        let window = self.window(&p.name);
        if edits::has_shorthand(self.tree, text, name, window.clone()) {
            return None;
        }
        let in_window = edits::variable_uses(self.tree, text, name, window.clone());
        let members = edits::field_uses(self.tree, text, name, window.clone());
        let known: Vec<_> = in_window.iter().chain(&members).cloned().collect();
        let own: Vec<_> = in_window
            .iter()
            .filter(|r| **r != p.name && p.function.start <= r.start && r.end <= p.function.end)
            .cloned()
            .collect();
        if !own.is_empty() {
            return self.rename(Kind::RenameParameter, p.name.clone(), own, &known, rng);
        }
        // Unused in its own function: nothing should follow, whatever else the window holds.
        let words = whole_word_occurrences(text, name, window.clone());
        let elsewhere = in_window.iter().filter(|r| **r != p.name).count();
        let kind = if words.len() == 1 {
            Kind::NoneUnused
        } else if elsewhere > 0 && words.len() == elsewhere + 1 + members.len() {
            Kind::NoneOtherFunction
        } else {
            return None;
        };
        let new = renamed(name, Style::of(self.file.lang), text, rng)?;
        let edit = Replacement {
            range: p.name.clone(),
            text: new,
        };
        Some(self.case(kind, edit, Expected::Nothing))
    }

    fn renamed_field(&self, at: Range<usize>, rng: &mut Rng) -> Option<Case> {
        let text = self.text();
        let name = &text[at.clone()];
        let window = self.window(&at);
        if edits::has_shorthand(self.tree, text, name, window.clone()) {
            return None;
        }
        let members = edits::field_uses(self.tree, text, name, window.clone());
        let variables = edits::variable_uses(self.tree, text, name, window.clone());
        let known: Vec<_> = members.iter().chain(&variables).cloned().collect();
        let uses: Vec<_> = members.iter().filter(|r| **r != at).cloned().collect();
        if !uses.is_empty() {
            return self.rename(Kind::RenameField, at, uses, &known, rng);
        }
        if whole_word_occurrences(text, name, window).len() != 1 {
            return None;
        }
        let new = renamed(name, Style::of(self.file.lang), text, rng)?;
        let edit = Replacement {
            range: at,
            text: new,
        };
        Some(self.case(Kind::NoneUnused, edit, Expected::Nothing))
    }

    /// The parameter the cases add, in each language's syntax.
    fn new_parameter(&self) -> &'static str {
        match self.file.language {
            Language::Rust => "extra: usize",
            Language::Go => "extra int",
            Language::TypeScript | Language::Tsx => "extra: number",
            Language::Python | Language::JavaScript => "extra",
        }
    }

    fn added_parameter(
        &self,
        d: &edits::FunctionDefinition,
        definitions: &[edits::FunctionDefinition],
        calls: &[edits::Call],
    ) -> Option<Case> {
        let text = self.text();
        let name = &text[d.name.clone()];
        let defined_twice = definitions
            .iter()
            .filter(|o| &text[o.name.clone()] == name)
            .count()
            > 1;
        if defined_twice || matches!(name, "__init__" | "constructor") {
            return None;
        }
        let param = self.new_parameter();
        let typed = if d.has_parameters {
            format!(", {param}")
        } else {
            param.to_string()
        };
        let edit = Replacement {
            range: d.append_at..d.append_at,
            text: typed.clone(),
        };
        let window = self.window(&(d.append_at..d.append_at));
        let sites: Vec<&edits::Call> = calls
            .iter()
            .filter(|c| &text[c.callee.clone()] == name && c.callee != d.name)
            .filter(|c| window.start <= c.callee.start && c.arguments.end <= window.end)
            .collect();
        let ranges: Vec<_> = sites.iter().map(|c| c.arguments.clone()).collect();
        let Some(next) = nearest(&ranges, d.append_at, d.append_at) else {
            if whole_word_occurrences(text, name, window).len() != 1 {
                return None;
            }
            return Some(self.case(Kind::NoneNoCall, edit, Expected::Nothing));
        };
        let site = sites.iter().find(|c| c.arguments == next)?;
        if !plain_call(text, site) {
            return None;
        }
        let shift = if next.start >= d.append_at {
            typed.len()
        } else {
            0
        };
        let arguments = next.start + shift..next.end + shift;
        Some(self.case(
            Kind::AddArgument,
            edit,
            Expected::AppendArgument { arguments },
        ))
    }

    fn changed_literal(&self, literals: &[edits::Literal], i: usize) -> Option<Case> {
        let text = self.text();
        let lit = &literals[i];
        let spelling = &text[lit.range.clone()];
        let is_string = lit.kind == LiteralKind::String;
        let new = changed_literal(spelling, is_string)?;
        let edit = Replacement {
            range: lit.range.clone(),
            text: new.clone(),
        };
        let window = self.window(&lit.range);
        let token = |r: &Range<usize>| {
            if is_string {
                r.start - 1..r.end + 1
            } else {
                r.clone()
            }
        };
        let same = whole_word_occurrences(text, &text[token(&lit.range)], window.clone());
        if same.len() == 1 {
            return Some(self.case(Kind::NoneLoneLiteral, edit, Expected::Nothing));
        }
        let parallel = parallel_literals(text, literals, i);
        let next = nearest(&parallel, lit.range.start, lit.range.end)?;
        let in_window = window.start <= next.start && next.end <= window.end;
        // Another line the same spelling sits on, not parallel to this one, blurs the truth.
        let lines_of = |r: &Range<usize>| text[..r.start].matches('\n').count();
        let other_lines = same
            .iter()
            .filter(|r| !parallel.iter().any(|p| token(p) == **r) && token(&lit.range) != **r)
            .count();
        if !in_window || other_lines > 0 || lines_of(&next) == lines_of(&lit.range) {
            return None;
        }
        let shift = if next.start >= lit.range.end {
            new.len() as isize - spelling.len() as isize
        } else {
            0
        };
        let range = next.start.checked_add_signed(shift)?..next.end.checked_add_signed(shift)?;
        let expected = Replacement { range, text: new };
        Some(self.case(Kind::ParallelLiteral, edit, Expected::Replace(expected)))
    }

    fn comment_edit(&self, comment: Range<usize>, rng: &mut Rng) -> Option<Case> {
        let text = self.text();
        let body = &text[comment.clone()];
        // Word starts after the comment's marker, each preceded by a space.
        let starts: Vec<usize> = body
            .char_indices()
            .skip(3)
            .filter(|&(i, c)| c.is_alphabetic() && body[..i].ends_with(' '))
            .map(|(i, _)| comment.start + i)
            .collect();
        if starts.len() < 3 || body.contains('\n') {
            return None;
        }
        let at = starts[rng.below(starts.len())];
        let edit = Replacement {
            range: at..at,
            text: "also ".into(),
        };
        Some(self.case(Kind::NoneComment, edit, Expected::Nothing))
    }

    fn blank_line(&self, d: &edits::FunctionDefinition) -> Option<Case> {
        let text = self.text();
        let line_start = text[..d.whole.start].rfind('\n').map_or(0, |i| i + 1);
        let indent = &text[line_start..d.whole.start];
        if line_start == 0 || !indent.trim().is_empty() {
            return None;
        }
        let edit = Replacement {
            range: line_start..line_start,
            text: "\n".into(),
        };
        Some(self.case(Kind::NoneWhitespace, edit, Expected::Nothing))
    }
}

/// A call whose arguments take one more plain argument at their end: no keyword, splat,
/// spread or trailing comma, and a callee that is not another type's path (`Vec::new`).
fn plain_call(text: &str, call: &edits::Call) -> bool {
    let args: String = text[call.arguments.clone()]
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    let before = &text[..call.callee.start];
    let foreign_path = before.ends_with("::") && !before.ends_with("Self::");
    !(args.contains(['*', '=']) || args.contains("...") || args.ends_with(",)") || foreign_path)
}

/// The literals parallel to `literals[i]`: on other lines of the same indentation and shape
/// (words, numbers and strings aside), spelled the same, at the same place among the line's
/// literals, in a run of such lines next to each other.
fn parallel_literals(text: &str, literals: &[edits::Literal], i: usize) -> Vec<Range<usize>> {
    let line_of = |at: usize| {
        let start = text[..at].rfind('\n').map_or(0, |i| i + 1);
        let end = text[at..].find('\n').map_or(text.len(), |i| at + i);
        start..end
    };
    let spelled = |l: &edits::Literal| &text[l.range.clone()];
    let place = |l: usize| {
        let line = line_of(literals[l].range.start);
        let on_line: Vec<usize> = (0..literals.len())
            .filter(|&k| line.start <= literals[k].range.start && literals[k].range.end <= line.end)
            .collect();
        (
            line.clone(),
            on_line.iter().position(|&k| k == l).unwrap_or(0),
            shape(&text[line]),
        )
    };
    let (home, index, home_shape) = place(i);
    let mut out = Vec::new();
    // Walk away from the home line in both directions while lines stay parallel.
    for direction in [1isize, -1] {
        let mut line = home.clone();
        loop {
            let next_line = if direction > 0 {
                if line.end >= text.len() {
                    break;
                }
                line_of(line.end + 1)
            } else {
                if line.start == 0 {
                    break;
                }
                line_of(line.start - 1)
            };
            let found = (0..literals.len()).find(|&k| {
                let r = &literals[k].range;
                next_line.start <= r.start
                    && r.end <= next_line.end
                    && spelled(&literals[k]) == spelled(&literals[i])
                    && literals[k].kind == literals[i].kind
            });
            match found.map(place) {
                Some((l, idx, s))
                    if idx == index
                        && s == home_shape
                        && indent(text, &l) == indent(text, &home) =>
                {
                    out.push(literals[found.unwrap()].range.clone());
                    line = l;
                }
                _ => break,
            }
        }
    }
    out
}

fn indent<'t>(text: &'t str, line: &Range<usize>) -> &'t str {
    let l = &text[line.clone()];
    &l[..l.len() - l.trim_start().len()]
}

/// A line's shape: each run of identifier characters as `w`, string insides dropped, blanks
/// squeezed out.
fn shape(line: &str) -> String {
    let mut out = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    for c in line.chars() {
        if let Some(q) = quote {
            if c == q {
                quote = None;
                out.push(c);
            }
            continue;
        }
        if c == '"' || c == '\'' {
            quote = Some(c);
            out.push(c);
            in_word = false;
        } else if super::is_word_char(c) {
            if !in_word {
                out.push('w');
            }
            in_word = true;
        } else {
            in_word = false;
            if !c.is_whitespace() {
                out.push(c);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "\
class Counter:
    def __init__(self, start):
        self.value = start

    def bump(self, step):
        self.value += step
        return self.value


def scale(count, factor):
    total = count * factor
    return total


def unused(flag):
    # this one is never called here
    return 1


def caller():
    a = scale(1, 2)
    sizes = [
        pad(3, 10),
        pad(4, 10),
        pad(5, 10),
    ]
    return a
";

    fn candidates() -> BTreeMap<Kind, Vec<Case>> {
        let source = Source {
            lang: "python",
            path: "m.py",
            text: FILE,
            language: Language::Python,
        };
        let tree = SyntaxTree::parse(Language::Python, FILE).unwrap();
        let maker = Maker {
            file: &source,
            tree: &tree,
        };
        maker.candidates(&mut Rng(1))
    }

    /// The old and new spelling of each case's edit and where its expected edit lies (the old
    /// text there, its line).
    fn summary(c: &Case) -> (String, String, Option<(String, usize)>) {
        let (edited, old) = c.edited();
        let line = |at: usize| c.after[..at].matches('\n').count() + 1;
        let expected = match &c.expected {
            Expected::Nothing => None,
            Expected::Replace(r) => {
                Some((c.after[r.range.clone()].to_string(), line(r.range.start)))
            }
            Expected::AppendArgument { arguments } => Some((
                c.after[arguments.clone()].to_string(),
                line(arguments.start),
            )),
        };
        (old.to_string(), c.after[edited].to_string(), expected)
    }

    fn find<'a>(all: &'a BTreeMap<Kind, Vec<Case>>, kind: Kind, old: &str) -> &'a Case {
        all[&kind]
            .iter()
            .find(|c| c.edited().1 == old)
            .unwrap_or_else(|| panic!("no {kind:?} case of {old}"))
    }

    #[test]
    fn each_kind_expects_the_next_place_in_the_text_after_the_edit() {
        let all = candidates();
        let (_, new, expected) = summary(find(&all, Kind::RenameParameter, "count"));
        assert!(new.ends_with("_count"), "{new}");
        assert_eq!(expected, Some(("count".into(), 11)));
        let (_, _, expected) = summary(find(&all, Kind::RenameField, "value"));
        assert_eq!(expected, Some(("value".into(), 6)));
        let added = &all[&Kind::AddArgument];
        assert_eq!(added.len(), 1, "only scale has a call");
        assert_eq!(summary(&added[0]).2, Some(("(1, 2)".into(), 21)));
        assert_eq!(summary(&added[0]).1, ", extra");
        let literal = find(&all, Kind::ParallelLiteral, "10");
        let (_, new, expected) = summary(literal);
        assert_eq!(new, "20");
        let line = |at: usize| FILE[..at].matches('\n').count() + 1;
        let edited_line = line(literal.edit.range.start);
        let next = if edited_line == 25 {
            24
        } else {
            edited_line + 1
        };
        assert_eq!(expected, Some(("10".into(), next)));
    }

    #[test]
    fn edits_after_which_nothing_should_follow() {
        let all = candidates();
        assert_eq!(summary(find(&all, Kind::NoneUnused, "flag")).2, None);
        let no_call: Vec<_> = all[&Kind::NoneNoCall]
            .iter()
            .map(|c| summary(c).2)
            .collect();
        assert!(no_call.iter().all(Option::is_none) && !no_call.is_empty());
        for kind in [
            Kind::NoneComment,
            Kind::NoneWhitespace,
            Kind::NoneLoneLiteral,
        ] {
            assert!(
                all[&kind].iter().all(|c| c.expected == Expected::Nothing),
                "{kind:?}"
            );
        }
        assert!(!all.contains_key(&Kind::NoneOtherFunction));
    }
}
