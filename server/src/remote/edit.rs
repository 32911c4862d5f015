//! Inception's next edit: `POST {endpoint}/edit/completions`, the code around the cursor
//! rewritten the way the user's recent edits suggest.
//!
//! The request (docs.inceptionlabs.ai, "capabilities/next-edit" and the API reference's
//! `EditCompletionRequest`): `{model, messages: [{role: "user", content}], max_tokens,
//! temperature, top_p}`, exactly one user message, no streaming. The message holds four
//! sections, each `<|name|>` … `<|/name|>`, an empty one written as a blank line:
//!
//! ```text
//! <|recently_viewed_code_snippets|>
//! <|recently_viewed_code_snippet|>
//! code_snippet_file_path: src/other.rs
//! …
//! <|/recently_viewed_code_snippet|>
//! <|/recently_viewed_code_snippets|>
//! <|current_file_content|>
//! current_file_path: src/lib.rs
//! …lines above…
//! <|code_to_edit|>
//! …the region, with <|cursor|> where the cursor is…
//! <|/code_to_edit|>
//! …lines below…
//! <|/current_file_content|>
//! <|edit_diff_history|>
//! …unified diffs, the newest last…
//! <|/edit_diff_history|>
//! ```
//!
//! The answer is an `edit.completion`, `choices[0].message.content`: the region rewritten, in
//! triple backticks as the capabilities page says (the API reference's example answers it
//! bare, which is read the same way).

use std::ops::Range;
use std::time::Instant;

use serde_json::{json, Value};

use super::protocol::{Api, Wire};
use super::{RemoteEngine, RemoteError};
use crate::history::PastEdit;
use crate::next_edit::diff::common_ends;
use crate::next_edit::{window, Snippet};

/// The path under the endpoint.
pub const PATH: &str = "edit/completions";
/// Marks the cursor inside the code to edit.
pub const CURSOR: &str = "<|cursor|>";
const SNIPPETS: &str = "recently_viewed_code_snippets";
const SNIPPET: &str = "recently_viewed_code_snippet";
const CURRENT_FILE: &str = "current_file_content";
const CODE_TO_EDIT: &str = "code_to_edit";
const HISTORY: &str = "edit_diff_history";

/// Unchanged lines on each side of an edit in its diff (the unified-diff default).
pub const DIFF_CONTEXT_LINES: usize = 3;
/// Lines of the current file sent on each side of the region: the whole file for most files,
/// and a bounded prompt (and latency) for the largest.
pub const FILE_CONTEXT_LINES: usize = 200;
/// The answer's token budget: the region again with room to grow, within what the API takes.
const MIN_ANSWER_TOKENS: usize = 256;
const MAX_ANSWER_TOKENS: usize = 2048;

/// What a next-edit request shows the engine. Offsets are bytes of `file_text`; `region` is
/// whole lines and holds `cursor`.
#[derive(Debug, Clone)]
pub struct EditPrompt<'a> {
    pub recently_viewed: &'a [Snippet],
    pub path: &'a str,
    pub file_text: &'a str,
    pub region: Range<usize>,
    pub cursor: usize,
    /// The document's recent edits, oldest first, in `file_text`'s offsets.
    pub history: &'a [PastEdit],
}

impl EditPrompt<'_> {
    /// The user message, in the documented sections.
    pub fn message(&self) -> String {
        let mut out = String::new();
        section(&mut out, SNIPPETS, |out| {
            for snippet in self.recently_viewed {
                section(out, SNIPPET, |out| {
                    out.push_str("code_snippet_file_path: ");
                    out.push_str(&snippet.path);
                    out.push('\n');
                    push_lines(out, &snippet.text);
                });
                out.push('\n');
            }
        });
        out.push('\n');
        section(&mut out, CURRENT_FILE, |out| self.current_file(out));
        out.push('\n');
        section(&mut out, HISTORY, |out| {
            for edit in self.history {
                if let Some(diff) = unified_diff(self.file_text, self.path, edit) {
                    out.push_str(&diff);
                }
            }
        });
        out
    }

    /// The code to edit as it is now.
    pub fn region_text(&self) -> &str {
        let region = self.region();
        &self.file_text[region]
    }

    /// The region, clipped to the text and to character boundaries.
    fn region(&self) -> Range<usize> {
        let start = floor_boundary(self.file_text, self.region.start);
        start..floor_boundary(self.file_text, self.region.end).max(start)
    }

    fn current_file(&self, out: &mut String) {
        let text = self.file_text;
        let region = self.region();
        let cursor = floor_boundary(text, self.cursor.clamp(region.start, region.end));
        let around = window::around(text, region.start, FILE_CONTEXT_LINES);
        let after = window::around(text, region.end.saturating_sub(1), FILE_CONTEXT_LINES);
        out.push_str("current_file_path: ");
        out.push_str(self.path);
        out.push('\n');
        out.push_str(&text[around.start.min(region.start)..region.start]);
        out.push_str(&format!("<|{CODE_TO_EDIT}|>\n"));
        out.push_str(&text[region.start..cursor]);
        out.push_str(CURSOR);
        out.push_str(&text[cursor..region.end]);
        if !text[region.clone()].ends_with('\n') {
            out.push('\n');
        }
        out.push_str(&format!("<|/{CODE_TO_EDIT}|>\n"));
        push_lines(out, &text[region.end..after.end.max(region.end)]);
    }

    /// The answer's token budget: about two tokens a byte of code is generous (code runs
    /// three to four bytes a token), so a region that grows still fits.
    pub fn max_tokens(&self) -> usize {
        (self.region_text().len() / 2).clamp(MIN_ANSWER_TOKENS, MAX_ANSWER_TOKENS)
    }
}

/// Writes `<|name|>`, what `body` writes (a blank line when nothing), `<|/name|>`.
fn section(out: &mut String, name: &str, body: impl FnOnce(&mut String)) {
    out.push_str(&format!("<|{name}|>\n"));
    let before = out.len();
    body(out);
    if out.len() == before {
        out.push('\n');
    }
    out.push_str(&format!("<|/{name}|>"));
}

/// `text`, ending in a line break unless it is empty.
fn push_lines(out: &mut String, text: &str) {
    out.push_str(text);
    if !text.is_empty() && !text.ends_with('\n') {
        out.push('\n');
    }
}

fn floor_boundary(text: &str, at: usize) -> usize {
    let mut at = at.min(text.len());
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

/// `edit` as a unified diff of `path` (`---`/`+++` headers, one hunk), from the current text:
/// the lines it touched before and after, with [`DIFF_CONTEXT_LINES`] lines around them. `None`
/// for what cannot be shown faithfully: an edit a later one overwrote, one too large to keep,
/// one that changed nothing, or one whose text is no longer where the history says.
pub fn unified_diff(text: &str, path: &str, edit: &PastEdit) -> Option<String> {
    if edit.overwritten || edit.elided || edit.old_text == edit.new_text {
        return None;
    }
    let range = edit.range();
    if text.get(range.clone())? != edit.new_text {
        return None;
    }
    // The whole lines the edit touched, as they are and as they were.
    let first = text[..range.start].rfind('\n').map_or(0, |i| i + 1);
    let last = text[range.end..]
        .find('\n')
        .map_or(text.len(), |i| range.end + i + 1);
    let old_block = format!(
        "{}{}{}",
        &text[first..range.start],
        edit.old_text,
        &text[range.end..last]
    );
    let old: Vec<&str> = old_block.split_inclusive('\n').collect();
    let new: Vec<&str> = text[first..last].split_inclusive('\n').collect();
    // Lines both sides share at the ends are context, not change.
    let (head, tail) = common_ends(&old, &new);
    let above = window::around(text, first, DIFF_CONTEXT_LINES).start;
    let below = match last > first {
        true => window::around(text, last - 1, DIFF_CONTEXT_LINES).end,
        false => last,
    };
    let before: Vec<&str> = text[above..first].split_inclusive('\n').collect();
    let after: Vec<&str> = text[last..below].split_inclusive('\n').collect();
    let context_head = before.iter().chain(&old[..head]);
    let context_tail = old[old.len() - tail..].iter().chain(&after);
    let (removed, added) = (&old[head..old.len() - tail], &new[head..new.len() - tail]);
    let shared = before.len() + head + tail + after.len();
    let start = text[..above].matches('\n').count() + 1;
    let (old_count, new_count) = (shared + removed.len(), shared + added.len());
    // A side with no lines names the line before it, as diff does.
    let side = |count: usize| if count == 0 { start - 1 } else { start };
    let mut out = format!(
        "--- {path}\n+++ {path}\n@@ -{},{old_count} +{},{new_count} @@\n",
        side(old_count),
        side(new_count)
    );
    let mut line = |mark: char, l: &str| {
        out.push(mark);
        push_lines(&mut out, l);
    };
    context_head.for_each(|l| line(' ', l));
    removed.iter().for_each(|l| line('-', l));
    added.iter().for_each(|l| line('+', l));
    context_tail.for_each(|l| line(' ', l));
    Some(out)
}

/// The request body: the documented fields only. Temperature 0: the one most likely rewrite,
/// since a wrong suggestion costs more than none.
pub fn request_body(model: Option<&str>, message: &str, max_tokens: usize) -> Value {
    let mut body = json!({
        "messages": [{"role": "user", "content": message}],
        "max_tokens": max_tokens,
        "temperature": 0.0,
        "top_p": 1.0,
    });
    if let Some(model) = model {
        body["model"] = model.into();
    }
    body
}

/// The rewritten region in `answer`: the code of its first fenced block (or the whole answer
/// when it has none), the markers an engine may echo removed, with `old`'s trailing line
/// breaks and `\n` line breaks. `"None"` (an engine's "no edit") is `old` itself. `Err` says why there is
/// no region: an empty answer, or a block cut off before its closing fence.
pub fn rewritten_region(answer: &str, old: &str) -> Result<String, String> {
    let code = match fenced_code(answer) {
        Fence::Closed(code) => code,
        Fence::Unclosed => {
            return Err("its code block has no closing fence (cut off at max_tokens?)".into())
        }
        Fence::Absent if answer.trim() == "None" => return Ok(old.to_string()),
        Fence::Absent => answer,
    };
    let code = code.replace("\r\n", "\n");
    let code = code
        .strip_prefix(&format!("<|{CODE_TO_EDIT}|>\n"))
        .unwrap_or(&code);
    let code = code.trim_end_matches('\n');
    let code = code
        .strip_suffix(&format!("<|/{CODE_TO_EDIT}|>"))
        .unwrap_or(code);
    let code = code.trim_end_matches('\n').replace(CURSOR, "");
    if code.trim().is_empty() && !old.trim().is_empty() {
        return Err("an empty region".into());
    }
    // The region's trailing line breaks are the old one's: those at the answer's end belong
    // to its fence as much as to the code, so a change there is never proposed.
    let kept = old.trim_end_matches(['\n', '\r']);
    let breaks = old[kept.len()..].matches('\n').count();
    Ok(format!("{code}{}", "\n".repeat(breaks)))
}

enum Fence<'a> {
    Closed(&'a str),
    Unclosed,
    Absent,
}

/// The body of the first fenced block (its info string skipped), its last line break kept.
fn fenced_code(answer: &str) -> Fence<'_> {
    let open = match answer.strip_prefix("```") {
        Some(_) => 0,
        None => match answer.find("\n```") {
            Some(i) => i + 1,
            None => return Fence::Absent,
        },
    };
    let Some(body_start) = answer[open..].find('\n').map(|i| open + i + 1) else {
        return Fence::Unclosed;
    };
    let body = &answer[body_start..];
    match body.strip_prefix("```") {
        Some(_) => Fence::Closed(""),
        None => match body.find("\n```") {
            Some(i) => Fence::Closed(&body[..i + 1]),
            None => Fence::Unclosed,
        },
    }
}

impl RemoteEngine {
    /// The region of `prompt` rewritten by the engine (`prompt.region_text()` itself when it
    /// proposes nothing). Only `api: fim` has the endpoint: any other api is an error at once,
    /// with no request. A 404 is remembered for this endpoint and model, and kept out of the
    /// status that inline completion shows: a FIM server without next edit still completes.
    pub async fn next_edit(&self, prompt: &EditPrompt<'_>) -> Result<String, RemoteError> {
        if self.settings.api != Api::Fim {
            return Err(RemoteError::NoNextEdit(self.settings.api.to_string()));
        }
        let url = format!(
            "{}/{PATH}",
            self.shown_endpoint()
                .unwrap_or_default()
                .trim_end_matches('/')
        );
        let asked = self.asked_of();
        if self.lock_status().edits_refused.as_ref() == Some(&asked) {
            return Err(RemoteError::NoEditEndpoint {
                url,
                detail: "(answered before)".into(),
            });
        }
        let model = self.settings.model.as_deref();
        let body = request_body(model, &prompt.message(), prompt.max_tokens());
        let started = Instant::now();
        let answer = self.post(PATH, Wire::Chat, &body, |_| false).await;
        let answer = self.note_edit_outcome(answer, started, asked)?;
        rewritten_region(&answer, prompt.region_text()).map_err(|detail| {
            let error = RemoteError::NoRegion { url, detail };
            tracing::info!("remote engine (next edit): {error}");
            error
        })
    }

    /// What a 404 is remembered by: the endpoint and the model.
    fn asked_of(&self) -> String {
        let endpoint = self.settings.endpoint.as_deref().unwrap_or_default();
        let model = self.settings.model.as_deref().unwrap_or_default();
        format!("{endpoint} {model}")
    }

    fn lock_status(&self) -> std::sync::MutexGuard<'_, super::RemoteStatus> {
        self.status.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Notes the request's latency or error in the status, except a 404, which becomes
    /// [`RemoteError::NoEditEndpoint`] and is remembered instead.
    fn note_edit_outcome(
        &self,
        answer: Result<String, RemoteError>,
        started: Instant,
        asked: String,
    ) -> Result<String, RemoteError> {
        let mut status = self.lock_status();
        match answer {
            Ok(answer) => {
                status.succeeded(started.elapsed());
                Ok(answer)
            }
            Err(RemoteError::NotFound { url, detail }) => {
                status.edits_refused = Some(asked);
                let error = RemoteError::NoEditEndpoint { url, detail };
                tracing::info!("remote engine (next edit): {error}");
                Err(error)
            }
            Err(error) => {
                tracing::warn!("remote engine (next edit): {error}");
                status.failed(&error);
                Err(error)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn edit(start: usize, old: &str, new: &str) -> PastEdit {
        PastEdit {
            start,
            old_text: old.into(),
            new_text: new.into(),
            version: 2,
            overwritten: false,
            elided: false,
        }
    }

    #[test]
    fn a_renamed_word_is_one_changed_line_with_three_lines_of_context() {
        let text = "a\nb\nc\nfn f(total: u32) {\n    x\n}\nd\ne\nf\ng\n";
        let at = text.find("total").unwrap();
        let diff = unified_diff(text, "src/lib.rs", &edit(at, "count", "total")).unwrap();
        assert_eq!(
            diff,
            "--- src/lib.rs\n+++ src/lib.rs\n@@ -1,7 +1,7 @@\n a\n b\n c\n\
             -fn f(count: u32) {\n+fn f(total: u32) {\n     x\n }\n d\n"
        );
    }

    #[test]
    fn added_and_removed_lines_count_on_their_side_only() {
        // A line break typed at the end of line 1, then `y = 2`: one added line.
        let text = "x = 1\ny = 2\nz = 3";
        let diff = unified_diff(text, "p.py", &edit(5, "", "\ny = 2")).unwrap();
        assert_eq!(
            diff,
            "--- p.py\n+++ p.py\n@@ -1,2 +1,3 @@\n x = 1\n+y = 2\n z = 3\n"
        );
        // A whole line deleted: nothing new, one line removed.
        let text = "x = 1\nz = 3\n";
        let diff = unified_diff(text, "p.py", &edit(6, "y = 2\n", "")).unwrap();
        assert_eq!(
            diff,
            "--- p.py\n+++ p.py\n@@ -1,3 +1,2 @@\n x = 1\n-y = 2\n z = 3\n"
        );
    }

    #[test]
    fn edits_that_cannot_be_shown_faithfully_are_left_out() {
        let text = "let total = 0;\n";
        let gone = PastEdit {
            overwritten: true,
            ..edit(4, "count", "total")
        };
        let big = PastEdit {
            elided: true,
            ..edit(0, "", "")
        };
        assert_eq!(unified_diff(text, "f", &gone), None);
        assert_eq!(unified_diff(text, "f", &big), None);
        assert_eq!(unified_diff(text, "f", &edit(4, "same", "same")), None);
        // The history says `total` is at 5, the text disagrees.
        assert_eq!(unified_diff(text, "f", &edit(5, "count", "total")), None);
        assert_eq!(unified_diff(text, "f", &edit(40, "a", "b")), None);
    }

    #[test]
    fn the_message_has_every_section_the_cursor_and_the_diffs_oldest_first() {
        let text = "fn f(total: u32) -> u32 {\n    count + 1\n}\n";
        let snippets = [Snippet {
            path: "src/other.rs".into(),
            text: "pub const N: u32 = 3;".into(),
        }];
        let history = [edit(5, "count", "total"), edit(0, "x", "y")];
        let cursor = text.find("count").unwrap();
        let prompt = EditPrompt {
            recently_viewed: &snippets,
            path: "src/lib.rs",
            file_text: text,
            region: window::around(text, cursor, 0),
            cursor,
            history: &history[..1],
        };
        let message = prompt.message();
        assert_eq!(
            message,
            "<|recently_viewed_code_snippets|>\n<|recently_viewed_code_snippet|>\n\
             code_snippet_file_path: src/other.rs\npub const N: u32 = 3;\n\
             <|/recently_viewed_code_snippet|>\n<|/recently_viewed_code_snippets|>\n\
             <|current_file_content|>\ncurrent_file_path: src/lib.rs\n\
             fn f(total: u32) -> u32 {\n<|code_to_edit|>\n    <|cursor|>count + 1\n\
             <|/code_to_edit|>\n}\n<|/current_file_content|>\n<|edit_diff_history|>\n\
             --- src/lib.rs\n+++ src/lib.rs\n@@ -1,3 +1,3 @@\n-fn f(count: u32) -> u32 {\n\
             +fn f(total: u32) -> u32 {\n     count + 1\n }\n<|/edit_diff_history|>"
        );
        assert_eq!(prompt.region_text(), "    count + 1\n");
        assert_eq!(prompt.max_tokens(), MIN_ANSWER_TOKENS);
        // Diffs come oldest first, newest last.
        let text = "let a = 1;\nlet b = 2;\n";
        let history = [edit(4, "x", "a"), edit(15, "y", "b")];
        let both = EditPrompt {
            history: &history,
            file_text: text,
            region: 0..text.len(),
            cursor: 0,
            ..prompt.clone()
        };
        let message = both.message();
        let (older, newer) = (
            message.find("-let x").unwrap(),
            message.find("-let y").unwrap(),
        );
        assert!(older < newer, "{message}");
    }

    #[test]
    fn the_region_is_read_from_a_fence_or_a_bare_answer() {
        let old = "    count + 1\n";
        let read = |answer: &str| rewritten_region(answer, old);
        assert_eq!(read("```\n    total + 1\n```").unwrap(), "    total + 1\n");
        assert_eq!(
            read("```rust\n    total + 1\n```\n").unwrap(),
            "    total + 1\n"
        );
        assert_eq!(
            read("Here:\n```\n    total<|cursor|> + 1\n```").unwrap(),
            "    total + 1\n"
        );
        assert_eq!(read("    total + 1").unwrap(), "    total + 1\n");
        assert_eq!(
            read("<|code_to_edit|>\n    total + 1\n<|/code_to_edit|>").unwrap(),
            "    total + 1\n"
        );
        assert_eq!(read("None").unwrap(), old);
        assert!(read("```\n    total + 1\n")
            .unwrap_err()
            .contains("closing fence"));
        assert!(read("").unwrap_err().contains("empty"));
        assert!(read("```\n```").unwrap_err().contains("empty"));
        // The final line break follows the old region's.
        assert_eq!(rewritten_region("a\nb\n", "a\nc").unwrap(), "a\nb");
        assert_eq!(rewritten_region("```\na\n\n\n```", "a\n").unwrap(), "a\n");
        assert_eq!(rewritten_region("```\na\n```", "a\n\n").unwrap(), "a\n\n");
        assert_eq!(
            rewritten_region("a\r\nb\r\n", "a\r\nc\r\n").unwrap(),
            "a\nb\n"
        );
    }

    #[test]
    fn the_body_has_the_documented_fields_and_no_stream() {
        let body = request_body(Some("mercury-edit-2"), "m", 300);
        assert_eq!(
            body,
            json!({"model": "mercury-edit-2", "messages": [{"role": "user", "content": "m"}],
                   "max_tokens": 300, "temperature": 0.0, "top_p": 1.0})
        );
        assert!(request_body(None, "m", 1).get("model").is_none());
    }
}
