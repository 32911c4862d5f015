//! Edits for documents whose lines end in `\r\n`: every range ends on a real position (never
//! between the `\r` and the `\n`) and new text writes line breaks the document's way.

mod common;

use common::{constant_model, Client};
use serde_json::{json, Value};

const GO: &str = "package main\r\n\r\nfunc add(a int, b int) int {\r\n\t// TODO\r\n}\r\n";
const RUST: &str = "fn add(a: i32, b: i32) -> i32 {\r\n    // TODO\r\n}\r\n";

fn ready_client(token: &str) -> (Client, tempfile::TempDir) {
    let model = constant_model(token, 256);
    let mut c = Client::spawn();
    c.initialize(
        json!({"model": model.path().to_str().unwrap(), "steps": 8, "maxTokensBlock": 6, "maxTokensInline": 6}),
        &["utf-16"],
    );
    assert_eq!(c.wait_model()["state"], "ready");
    (c, model)
}

fn pos(line: u32, character: u32) -> Value {
    json!({"line": line, "character": character})
}

/// (start, content end) of each line: lines end at `\r\n`, `\n` or `\r`.
fn lines(text: &str) -> Vec<(usize, usize)> {
    let mut out = vec![];
    let (mut start, mut i) = (0, 0);
    let b = text.as_bytes();
    while i < b.len() {
        let width = match (b[i], b.get(i + 1)) {
            (b'\r', Some(b'\n')) => 2,
            (b'\r' | b'\n', _) => 1,
            _ => 0,
        };
        if width > 0 {
            out.push((start, i));
            start = i + width;
        }
        i += width.max(1);
    }
    out.push((start, b.len()));
    out
}

/// The byte of a UTF-16 position, which must be a real one: on a line that exists, within its
/// content (not past its end, not inside its line break) and not inside a character.
fn byte_of(text: &str, p: &Value) -> usize {
    let (line, ch) = (
        p["line"].as_u64().unwrap(),
        p["character"].as_u64().unwrap(),
    );
    let (start, end) = *lines(text)
        .get(line as usize)
        .unwrap_or_else(|| panic!("{p} is past the last line of {text:?}"));
    let mut units = 0;
    for (i, c) in text[start..end].char_indices() {
        if units == ch {
            return start + i;
        }
        units += c.len_utf16() as u64;
        assert!(
            units <= ch || units - c.len_utf16() as u64 == ch,
            "{p} is inside a character"
        );
    }
    assert_eq!(units, ch, "{p} is past the end of its line in {text:?}");
    end
}

/// Applies LSP edits naively, checking each position first.
fn apply(text: &str, edits: &[Value]) -> String {
    let mut ranges: Vec<(usize, usize, &str)> = edits
        .iter()
        .map(|e| {
            let (s, t) = (
                byte_of(text, &e["range"]["start"]),
                byte_of(text, &e["range"]["end"]),
            );
            assert!(s <= t, "{e}");
            (s, t, e["newText"].as_str().unwrap())
        })
        .collect();
    ranges.sort_by_key(|r| std::cmp::Reverse(r.0));
    let mut out = text.to_string();
    for (s, t, new) in ranges {
        out.replace_range(s..t, new);
    }
    out
}

fn actions(c: &mut Client, uri: &str, start: Value, end: Value) -> Vec<Value> {
    let r = c.request(
        "textDocument/codeAction",
        json!({"textDocument": {"uri": uri}, "range": {"start": start, "end": end}, "context": {"diagnostics": []}}),
    );
    r["result"]
        .as_array()
        .cloned()
        .unwrap_or_else(|| panic!("{r}"))
}

/// Resolves the action titled `title` and returns its edits.
fn resolve(c: &mut Client, actions: &[Value], title: &str) -> Vec<Value> {
    let action = actions
        .iter()
        .find(|a| a["title"] == title)
        .unwrap_or_else(|| panic!("no {title} in {actions:?}"));
    let r = c.request("codeAction/resolve", action.clone());
    r["result"]["edit"]["documentChanges"][0]["edits"]
        .as_array()
        .cloned()
        .unwrap_or_else(|| panic!("{r}"))
}

#[test]
fn go_and_rust_holes_and_rewrites_keep_crlf_lines_whole() {
    let (mut c, _model) = ready_client("a");
    let cases = [
        ("file:///tmp/crlf/main.go", "go", GO, 3, 1, 8, "\taaaaaa"),
        (
            "file:///tmp/crlf/lib.rs",
            "rust",
            RUST,
            1,
            4,
            11,
            "    aaaaaa",
        ),
    ];
    for (uri, language, text, line, from, to, filled) in cases {
        c.open(uri, language, text);
        let expected = text.replace(&text[lines(text)[line as usize].0..][..to as usize], filled);
        assert!(expected.ends_with("aaaaaa\r\n}\r\n"), "{expected:?}");
        let at = pos(line, from + 2);
        let listed = actions(&mut c, uri, at.clone(), at);
        let edits = resolve(&mut c, &listed, "Fill holes (dllm)");
        assert_eq!(
            apply(text, &edits),
            expected,
            "fill holes in {uri}: {edits:?}"
        );
        let selected = actions(&mut c, uri, pos(line, from), pos(line, to));
        let edits = resolve(&mut c, &selected, "Rewrite selection (dllm)");
        assert_eq!(apply(text, &edits), expected, "rewrite in {uri}: {edits:?}");
    }
    c.shutdown();
}

#[test]
fn generated_line_breaks_are_written_as_crlf() {
    // This model answers every masked token with a line break and two spaces.
    let (mut c, _model) = ready_client("ĊĠĠ");
    let uri = "file:///tmp/crlf/main.go";
    c.open(uri, "go", GO);
    let r = c.request(
        "workspace/executeCommand",
        json!({"command": "dllm.fillHoles", "arguments": [{"uri": uri, "position": pos(3, 3)}]}),
    );
    assert_eq!(r["result"]["applied"], true, "{r}");
    let edits = c.applied_edits[0]["documentChanges"][0]["edits"]
        .as_array()
        .cloned()
        .unwrap();
    let new_text = edits[0]["newText"].as_str().unwrap();
    assert!(new_text.contains("\r\n"), "{new_text:?}");
    assert!(
        !new_text.replace("\r\n", "").contains(['\n', '\r']),
        "a bare line break in {new_text:?}"
    );
    let after = apply(GO, &edits);
    assert_eq!(after, GO.replace("// TODO", new_text));
    assert!(
        !after.replace("\r\n", "").contains(['\n', '\r']),
        "{after:?}"
    );
    c.shutdown();
}

#[test]
fn inline_completion_ranges_stay_before_the_line_break() {
    let (mut c, _model) = ready_client("a");
    let uri = "file:///tmp/crlf/lib.rs";
    let text = "fn f() -> i32 {\r\n    1 + \r\n}\r\n";
    c.open(uri, "rust", text);
    for method in ["textDocument/inlineCompletion", "textDocument/completion"] {
        let r = c.request(
            method,
            json!({"textDocument": {"uri": uri}, "position": pos(1, 8), "context": {"triggerKind": 1}}),
        );
        let edit = match method {
            "textDocument/completion" => r["result"]["items"][0]["textEdit"].clone(),
            _ => {
                let item = &r["result"][0];
                json!({"range": item["range"], "newText": item["insertText"]})
            }
        };
        assert_eq!(
            apply(text, std::slice::from_ref(&edit)),
            "fn f() -> i32 {\r\n    1 + aaaaaa\r\n}\r\n",
            "{method}: {r}"
        );
    }
    c.shutdown();
}
