//! Next edit over a remote engine that speaks Inception's `/edit/completions`
//! ([`crate::remote::edit`]): the lines around the cursor go out with the file, the recent
//! edits and the other files' snippets; the region comes back rewritten, and what changed is
//! the proposal, once it passes every check (precision over recall: a doubt is no proposal).

use std::ops::Range;

use dllm_grammars::check_edits_on;
use dllm_models::CancelFlag;

use super::{diff, window, Context, Proposal};
use crate::infiller::until_cancelled;
use crate::pipeline::PipelineError;
use crate::remote::edit::EditPrompt;
use crate::remote::RemoteEngine;
use crate::repetition::repetition_in;

/// Lines on each side of the cursor's line that the engine may rewrite: the nearby uses of a
/// renamed name, the neighbouring parallel lines, a call a few lines down; a larger region
/// costs latency and invites rewrites.
pub const REGION_LINES: usize = 5;
const _: () = assert!(REGION_LINES <= window::WINDOW_LINES);

/// The most lines a proposal may change (old lines altered or removed plus new lines added).
/// The edits next edit is for change one line, or a few for a rename's nearby uses; an answer
/// that changes more is the engine rewriting the region, which is where wrong suggestions
/// come from, so it is not offered.
pub const MAX_CHANGED_LINES: usize = 4;

/// Recently viewed snippets sent at most (Inception's guide asks for 3 to 5).
pub const MAX_SNIPPETS: usize = 5;

/// The remote engine's next edit for `ctx`, or `None` (with a debug log saying why).
pub async fn suggest(
    engine: &RemoteEngine,
    ctx: &Context,
    cancel: &CancelFlag,
) -> Result<Option<Proposal>, PipelineError> {
    let text = &*ctx.snapshot.text;
    // A large document's snapshot holds only a window (`base` > 0) or nothing of its text.
    if ctx.snapshot.base != 0 || text.is_empty() || ctx.cursor > text.len() {
        tracing::debug!("next edit (remote): no text around the cursor to send");
        return Ok(None);
    }
    let region = window::around(text, ctx.cursor, REGION_LINES);
    let prompt = EditPrompt {
        recently_viewed: &ctx.recently_viewed[..ctx.recently_viewed.len().min(MAX_SNIPPETS)],
        path: &ctx.path,
        file_text: text,
        region: region.clone(),
        cursor: ctx.cursor,
        history: &ctx.history,
    };
    let answer = until_cancelled(cancel, engine.next_edit(&prompt)).await?;
    proposal(ctx, region, &answer)
}

/// The one edit that `answer` (the rewritten `region`) makes, if it is worth offering.
pub fn proposal(
    ctx: &Context,
    region: Range<usize>,
    answer: &str,
) -> Result<Option<Proposal>, PipelineError> {
    let text = &*ctx.snapshot.text;
    let old = &text[region.clone()];
    let new = ctx
        .snapshot
        .line_ending
        .convert(&answer.replace("\r\n", "\n"))
        .into_owned();
    let Some((range, replacement)) = diff::smallest_edit(old, &new) else {
        return Ok(refused("the engine kept the region as it was"));
    };
    let changed = changed_lines(old, &new);
    if changed > MAX_CHANGED_LINES {
        return Ok(refused(&format!(
            "the answer changes {changed} lines, more than {MAX_CHANGED_LINES}"
        )));
    }
    if let Some(why) = repetition_in(&new).filter(|_| repetition_in(old).is_none()) {
        return Ok(refused(&format!("the answer repeats {why}")));
    }
    let range = region.start + range.start..region.start + range.end;
    if ctx
        .history
        .iter()
        .any(|e| !e.overwritten && e.range() == range && e.old_text == replacement)
    {
        return Ok(refused("the answer undoes a recent edit"));
    }
    if !parses_as_well(ctx, range.clone(), &replacement)? {
        return Ok(refused("the answer adds syntax errors"));
    }
    Ok(Some(Proposal {
        label: label(text, &range, &replacement),
        range,
        text: replacement,
    }))
}

fn refused(why: &str) -> Option<Proposal> {
    tracing::debug!("next edit (remote): {why}; not offered");
    None
}

/// Whether the document with the edit has no syntax errors the document without it lacked
/// (near the edit or in all). A language without a grammar is not checked.
fn parses_as_well(
    ctx: &Context,
    range: Range<usize>,
    replacement: &str,
) -> Result<bool, PipelineError> {
    let snapshot = &ctx.snapshot;
    if snapshot.language.is_none() {
        return Ok(true);
    }
    let edits = [(range, replacement.to_string())];
    Ok(check_edits_on(&snapshot.syntax_tree()?, &snapshot.text, &edits)?.ok)
}

/// How many lines `new` changes of `old`: past the lines both share at the start and at the
/// end, the lines that differ pair by pair, and those one side has beyond the other.
pub fn changed_lines(old: &str, new: &str) -> usize {
    let old: Vec<&str> = old.split_inclusive('\n').collect();
    let new: Vec<&str> = new.split_inclusive('\n').collect();
    let (head, tail) = diff::common_ends(&old, &new);
    let (old, new) = (&old[head..old.len() - tail], &new[head..new.len() - tail]);
    let differing = old.iter().zip(new).filter(|(a, b)| a != b).count();
    differing + old.len().abs_diff(new.len())
}

/// A few words for the editor: "rename `count` → `total` (line 12)" when a whole name changes
/// into another, else what happens at which line.
pub fn label(text: &str, range: &Range<usize>, replacement: &str) -> String {
    let line = text[..range.start].matches('\n').count() + 1;
    let old = &text[range.clone()];
    // The whole words the change sits in, before and after.
    let is_word = |c: char| c.is_alphanumeric() || c == '_';
    let before = text[..range.start]
        .chars()
        .rev()
        .take_while(|&c| is_word(c));
    let start = range.start - before.map(char::len_utf8).sum::<usize>();
    let after = text[range.end..].chars().take_while(|&c| is_word(c));
    let end = range.end + after.map(char::len_utf8).sum::<usize>();
    let old_word = &text[start..end];
    let new_word = format!(
        "{}{replacement}{}",
        &text[start..range.start],
        &text[range.end..end]
    );
    let names = |s: &str| {
        s.chars()
            .next()
            .is_some_and(|c| c.is_alphabetic() || c == '_')
            && s.chars().all(is_word)
    };
    if names(old_word) && names(&new_word) {
        return format!("rename `{old_word}` → `{new_word}` (line {line})");
    }
    let last = line + old.trim_end_matches('\n').matches('\n').count();
    let short = !replacement.contains('\n') && replacement.chars().count() <= 40;
    match (old.is_empty(), replacement.is_empty()) {
        (true, _) if short => format!("insert `{}` at line {line}", replacement.trim()),
        (true, _) => format!("insert at line {line}"),
        (false, true) if last == line => format!("delete at line {line}"),
        (false, true) => format!("delete lines {line}–{last}"),
        _ if last == line => format!("edit line {line}"),
        _ => format!("edit lines {line}–{last}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::PastEdit;
    use crate::pipeline::Snapshot;

    fn context(lang: &str, text: &str, cursor: usize, history: Vec<PastEdit>) -> Context {
        Context {
            snapshot: Snapshot::of_text(text, lang, None),
            history,
            cursor,
            path: "src/lib.rs".into(),
            recently_viewed: vec![],
        }
    }

    const CODE: &str = "fn f(total: u32) -> u32 {\n    let a = count + 1;\n    a * 2\n}\n";

    fn ask(ctx: &Context, answer: &str) -> Option<Proposal> {
        let region = window::around(&ctx.snapshot.text, ctx.cursor, REGION_LINES);
        proposal(ctx, region, answer).unwrap()
    }

    #[test]
    fn the_answer_becomes_the_one_edit_it_makes_in_document_offsets() {
        let ctx = context("rust", CODE, 0, vec![]);
        let answer = CODE.replace("count + 1", "total + 1");
        let got = ask(&ctx, &answer).unwrap();
        let at = CODE.find("count").unwrap();
        assert_eq!(got.range, at..at + 5);
        assert_eq!(got.text, "total");
        assert_eq!(got.label, "rename `count` → `total` (line 2)");
    }

    #[test]
    fn doubtful_answers_are_no_proposal() {
        let ctx = context("rust", CODE, 0, vec![]);
        // Unchanged, a syntax error, a rewrite of every line, a loop.
        assert_eq!(ask(&ctx, CODE), None);
        assert_eq!(ask(&ctx, &CODE.replace("count + 1;", "count + ;")), None);
        let mut rewritten: String = CODE.lines().map(|l| format!("{l} // x\n")).collect();
        rewritten.push_str("// five lines changed\n");
        assert_eq!(ask(&ctx, &rewritten), None);
        let looping = CODE.replace("    a * 2\n", &"    a.bump();\n".repeat(3));
        assert_eq!(ask(&ctx, &looping), None);
        // Undoing the edit just made.
        let at = CODE.find("total").unwrap();
        let made = PastEdit {
            start: at,
            old_text: "count".into(),
            new_text: "total".into(),
            version: 3,
            overwritten: false,
            elided: false,
        };
        let ctx = context("rust", CODE, 0, vec![made]);
        assert_eq!(ask(&ctx, &CODE.replacen("total", "count", 1)), None);
    }

    #[test]
    fn a_document_with_crlf_line_breaks_gets_an_edit_of_its_own_breaks() {
        let text = CODE.replace('\n', "\r\n");
        let ctx = context("rust", &text, 0, vec![]);
        let got = ask(&ctx, &CODE.replace("a * 2", "a * 3")).unwrap();
        assert_eq!(got.text, "3");
        assert_eq!(&text[got.range.start - 4..got.range.end], "a * 2");
    }

    #[test]
    fn changed_lines_count_what_differs_past_the_shared_ends() {
        assert_eq!(changed_lines("a\nb\nc\n", "a\nb\nc\n"), 0);
        assert_eq!(changed_lines("a\nb\nc\nd\n", "a\nB\nc\nD\n"), 2);
        assert_eq!(changed_lines("a\nc\n", "a\nb\nc\n"), 1);
        assert_eq!(changed_lines("a\nb\nc\n", "a\n"), 2);
        assert_eq!(changed_lines("a\nb\n", "x\ny\nz\n"), 3);
    }

    #[test]
    fn labels_say_what_happens_where() {
        let text = "let count = 1;\nf(a)\nx\ny\n";
        let at = |s: &str| text.find(s).unwrap();
        assert_eq!(
            label(text, &(at("count")..at("count") + 5), "total"),
            "rename `count` → `total` (line 1)"
        );
        // A change inside a name is the rename of the whole name.
        assert_eq!(
            label(text, &(at("count") + 5..at("count") + 5), "er"),
            "rename `count` → `counter` (line 1)"
        );
        assert_eq!(
            label(text, &(at("a)") + 1..at("a)") + 1), ", b"),
            "insert `, b` at line 2"
        );
        assert_eq!(label(text, &(at("x")..at("x") + 2), ""), "delete at line 3");
        assert_eq!(label(text, &(at("x")..at("y") + 1), "z"), "edit lines 3–4");
        assert_eq!(label(text, &(at("1")..at("1") + 1), "2"), "edit line 1");
    }
}
