//! End to end: the real `dllm-ls` binary, spoken to over stdio as an editor would.

mod common;
#[path = "lsp_e2e/llama_cpp.rs"]
mod llama_cpp;
#[path = "lsp_e2e/next_edit.rs"]
mod next_edit;
#[path = "lsp_e2e/remote.rs"]
mod remote;
#[path = "lsp_e2e/while_loading.rs"]
mod while_loading;

use common::{constant_model, constant_model_with_chat, doubtful_model, Client};
use serde_json::{json, Value};

const URI: &str = "file:///tmp/e2e/lib.rs";

fn ready_client(model: &std::path::Path, extra: Value) -> Client {
    let mut c = Client::spawn();
    let mut options = json!({"model": model.to_str().unwrap(), "steps": 8, "maxTokensBlock": 6, "maxTokensInline": 6});
    options
        .as_object_mut()
        .unwrap()
        .extend(extra.as_object().cloned().unwrap_or_default());
    let init = c.initialize(options, &["utf-16"]);
    let caps = &init["result"]["capabilities"];
    assert_eq!(caps["positionEncoding"], "utf-16");
    assert_eq!(caps["inlineCompletionProvider"], true);
    assert_eq!(caps["codeActionProvider"]["resolveProvider"], true);
    let status = c.wait_model();
    assert_eq!(status["state"], "ready", "{status}");
    c
}

fn pos(line: u32, character: u32) -> Value {
    json!({"line": line, "character": character})
}

fn utf16_len(s: &str) -> u32 {
    s.encode_utf16().count() as u32
}

/// Applies LSP TextEdits (UTF-16 positions) to `text`.
fn apply(text: &str, edits: &[Value]) -> String {
    let offset = |p: &Value| {
        let (line, ch) = (
            p["line"].as_u64().unwrap() as usize,
            p["character"].as_u64().unwrap() as usize,
        );
        let start: usize = text.split_inclusive('\n').take(line).map(str::len).sum();
        let mut units = 0;
        for (i, c) in text[start..].char_indices() {
            if units >= ch {
                return start + i;
            }
            units += c.len_utf16();
        }
        text.len()
    };
    let mut edits: Vec<&Value> = edits.iter().collect();
    edits.sort_by_key(|e| std::cmp::Reverse(offset(&e["range"]["start"])));
    let mut out = text.to_string();
    for e in edits {
        let (s, t) = (offset(&e["range"]["start"]), offset(&e["range"]["end"]));
        out.replace_range(s..t, e["newText"].as_str().unwrap());
    }
    out
}

#[test]
fn inline_completion_fills_an_empty_block_with_the_code_after_in_view() {
    let model = constant_model("a", 256);
    let mut c = ready_client(model.path(), json!({}));
    c.open(URI, "rust", "fn f() -> i32 {\n    \n}\n");
    let r = c.request(
        "textDocument/inlineCompletion",
        json!({"textDocument": {"uri": URI}, "position": pos(1, 4), "context": {"triggerKind": 1}}),
    );
    let items = r["result"].as_array().unwrap_or_else(|| panic!("{r}"));
    assert_eq!(items.len(), 1, "{r}");
    assert_eq!(items[0]["insertText"], "aaaaaa");
    let range = &items[0]["range"];
    assert_eq!(range["start"], pos(1, 4));
    assert_eq!(
        range["start"]["line"], range["end"]["line"],
        "inline ranges stay on one line"
    );

    // The completion fallback gives the same text.
    let r = c.request(
        "textDocument/completion",
        json!({"textDocument": {"uri": URI}, "position": pos(1, 4)}),
    );
    assert_eq!(
        r["result"]["items"][0]["textEdit"]["newText"], "aaaaaa",
        "{r}"
    );
    c.shutdown();
}

#[test]
fn a_doubtful_suggestion_is_withheld_inline_but_a_code_action_still_answers() {
    // The model gives its token a probability of about 0.3 at every position.
    let model = doubtful_model("a", 256, 0.3);
    let mut c = ready_client(model.path(), json!({"minConfidence": 0.5}));
    c.open(URI, "rust", "fn f() -> i32 {\n    \n}\n");
    let at_block =
        json!({"textDocument": {"uri": URI}, "position": pos(1, 4), "context": {"triggerKind": 1}});
    let r = c.request("textDocument/inlineCompletion", at_block.clone());
    assert_eq!(
        r["result"],
        json!([]),
        "below minConfidence nothing is shown: {r}"
    );
    let r = c.request(
        "textDocument/completion",
        json!({"textDocument": {"uri": URI}, "position": pos(1, 4)}),
    );
    assert!(r["result"].is_null(), "{r}");
    let status = c.request(
        "workspace/executeCommand",
        json!({"command": "dllm.status", "arguments": []}),
    );
    assert_eq!(
        status["result"]["suggestions"],
        json!({"shown": 0, "withheld": 2, "unscored": 0}),
        "dllm.status counts what the gate withheld: {status}"
    );

    // A code action, which the user asks for, still answers, and its title says why to doubt it.
    let other = "file:///tmp/e2e/other.rs";
    let text = "fn g(x: i32) -> i32 {\n    let y = todo!();\n    y + x\n}\n";
    c.open(other, "rust", text);
    let hole = pos(1, 12);
    let r = c.request(
        "textDocument/codeAction",
        json!({"textDocument": {"uri": other}, "range": {"start": hole, "end": hole}, "context": {"diagnostics": []}}),
    );
    let fill = r["result"]
        .as_array()
        .and_then(|a| a.iter().find(|a| a["title"] == "Fill holes (dllm)"))
        .cloned()
        .unwrap_or_else(|| panic!("{r}"));
    let resolved = c.request("codeAction/resolve", fill);
    assert_eq!(
        resolved["result"]["title"], "Fill holes (dllm) (low confidence)",
        "{resolved}"
    );
    let edits = resolved["result"]["edit"]["documentChanges"][0]["edits"]
        .as_array()
        .cloned()
        .unwrap_or_else(|| panic!("{resolved}"));
    assert_eq!(
        apply(text, &edits),
        "fn g(x: i32) -> i32 {\n    let y = aaaaaa;\n    y + x\n}\n"
    );

    // Below the model's confidence, the gate lets the same suggestion through.
    c.notify(
        "workspace/didChangeConfiguration",
        json!({"settings": {"dllm": {"minConfidence": 0.2}}}),
    );
    let r = c.request("textDocument/inlineCompletion", at_block);
    assert_eq!(r["result"][0]["insertText"], "aaaaaa", "{r}");
    c.shutdown();
}

#[test]
fn code_actions_resolve_to_versioned_whole_block_edits() {
    let model = constant_model("a", 256);
    let mut c = ready_client(model.path(), json!({}));
    let text = "fn f(x: i32) -> i32 {\n    let y = todo!();\n    y + x\n}\n";
    c.open(URI, "rust", text);
    let hole = pos(1, 12);
    let r = c.request(
        "textDocument/codeAction",
        json!({"textDocument": {"uri": URI}, "range": {"start": hole, "end": hole}, "context": {"diagnostics": []}}),
    );
    let actions = r["result"].as_array().unwrap_or_else(|| panic!("{r}"));
    let titles: Vec<&str> = actions
        .iter()
        .map(|a| a["title"].as_str().unwrap())
        .collect();
    assert!(titles.contains(&"Fill holes (dllm)"), "{titles:?}");
    assert!(
        actions.iter().all(|a| a.get("edit").is_none()),
        "edits are computed lazily"
    );

    let fill = actions
        .iter()
        .find(|a| a["title"] == "Fill holes (dllm)")
        .unwrap()
        .clone();
    let resolved = c.request("codeAction/resolve", fill.clone());
    let change = &resolved["result"]["edit"]["documentChanges"][0];
    assert_eq!(change["textDocument"]["version"], 1, "{resolved}");
    let new_text = apply(text, change["edits"].as_array().unwrap());
    assert_eq!(
        new_text,
        "fn f(x: i32) -> i32 {\n    let y = aaaaaa;\n    y + x\n}\n"
    );

    // Rename: every occurrence of `y` in the function gets one new name.
    let r = c.request(
        "textDocument/codeAction",
        json!({"textDocument": {"uri": URI}, "range": {"start": pos(2, 4), "end": pos(2, 4)}, "context": {"diagnostics": []}}),
    );
    let rename = r["result"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["title"] == "Rename here (dllm)")
        .cloned()
        .expect("rename offered");
    let resolved = c.request("codeAction/resolve", rename);
    let edits = resolved["result"]["edit"]["documentChanges"][0]["edits"]
        .as_array()
        .cloned()
        .unwrap_or_else(|| panic!("{resolved}"));
    assert_eq!(edits.len(), 2);
    assert_eq!(
        apply(text, &edits),
        "fn f(x: i32) -> i32 {\n    let aaaaaa = todo!();\n    aaaaaa + x\n}\n"
    );

    // After an edit the listed action is stale: resolve says so instead of editing new text.
    c.notify(
        "textDocument/didChange",
        json!({"textDocument": {"uri": URI, "version": 2}, "contentChanges": [{"range": {"start": pos(0, 0), "end": pos(0, 0)}, "text": "// x\n"}]}),
    );
    let stale = c.request("codeAction/resolve", fill);
    assert_eq!(stale["error"]["code"], -32801, "{stale}");
    c.shutdown();
}

#[test]
fn rewrite_command_applies_an_edit_and_reports_the_ignored_instruction() {
    let model = constant_model("a", 256);
    let mut c = ready_client(model.path(), json!({}));
    c.open(URI, "rust", "fn f() -> i32 {\n    1 + 2\n}\n");
    let r = c.request(
        "workspace/executeCommand",
        json!({"command": "dllm.rewrite", "arguments": [{"uri": URI, "range": {"start": pos(1, 4), "end": pos(1, 9)}, "instruction": "make it faster"}]}),
    );
    assert_eq!(r["result"]["applied"], true, "{r}");
    assert!(r["result"]["notes"][0]
        .as_str()
        .unwrap()
        .contains("ignored"));
    assert_eq!(c.applied_edits.len(), 1);
    let edits = c.applied_edits[0]["documentChanges"][0]["edits"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(
        apply("fn f() -> i32 {\n    1 + 2\n}\n", &edits),
        "fn f() -> i32 {\n    aaaaaa\n}\n"
    );
    c.shutdown();
}

#[test]
fn an_instruction_goes_into_the_chat_prompt_of_an_instruct_checkpoint() {
    let template = "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}";
    let model = constant_model_with_chat("a", 256, Some(template));
    let mut c = ready_client(model.path(), json!({}));
    c.open(URI, "rust", "fn f() -> i32 {\n    1 + 2\n}\n");
    let r = c.request(
        "workspace/executeCommand",
        json!({"command": "dllm.rewrite", "arguments": [{"uri": URI, "range": {"start": pos(1, 4), "end": pos(1, 9)}, "instruction": "make it faster"}]}),
    );
    assert_eq!(r["result"]["applied"], true, "{r}");
    assert_eq!(
        r["result"]["notes"],
        json!([]),
        "the instruction was used: {r}"
    );
    let edits = c.applied_edits[0]["documentChanges"][0]["edits"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(
        apply("fn f() -> i32 {\n    1 + 2\n}\n", &edits),
        "fn f() -> i32 {\n    aaaaaa\n}\n"
    );
    c.shutdown();
}

#[test]
fn incremental_non_ascii_edits_keep_utf16_positions_right() {
    let model = constant_model("a", 256);
    let mut c = ready_client(model.path(), json!({}));
    let text = "fn f() -> i32 { /* 😀 */ todo!() }\n";
    c.open(URI, "rust", text);
    // Insert "größe " right after the emoji (UTF-16: the emoji is two units).
    let after_emoji = utf16_len("fn f() -> i32 { /* 😀");
    c.notify(
        "textDocument/didChange",
        json!({"textDocument": {"uri": URI, "version": 2}, "contentChanges": [
            {"range": {"start": pos(0, after_emoji), "end": pos(0, after_emoji)}, "text": " größe"},
            {"range": {"start": pos(0, 0), "end": pos(0, 0)}, "text": "\t"}
        ]}),
    );
    let now = "\tfn f() -> i32 { /* 😀 größe */ todo!() }\n";
    let hole = utf16_len("\tfn f() -> i32 { /* 😀 größe */ ");
    let r = c.request(
        "workspace/executeCommand",
        json!({"command": "dllm.fillHoles", "arguments": [{"uri": URI, "position": pos(0, hole)}]}),
    );
    assert_eq!(r["result"]["applied"], true, "{r}");
    let edit = &c.applied_edits[0]["documentChanges"][0];
    assert_eq!(edit["textDocument"]["version"], 2);
    let edits = edit["edits"].as_array().unwrap();
    assert_eq!(edits[0]["range"]["start"], pos(0, hole));
    assert_eq!(
        apply(now, edits),
        "\tfn f() -> i32 { /* 😀 größe */ aaaaaa }\n"
    );

    // An edit that does not fit is rejected and the last good text kept.
    c.notify(
        "textDocument/didChange",
        json!({"textDocument": {"uri": URI, "version": 3}, "contentChanges": [{"range": {"start": pos(40, 0), "end": pos(41, 0)}, "text": "x"}]}),
    );
    let r = c.request(
        "textDocument/codeAction",
        json!({"textDocument": {"uri": URI}, "range": {"start": pos(0, hole), "end": pos(0, hole)}, "context": {"diagnostics": []}}),
    );
    let fill = r["result"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["title"] == "Fill holes (dllm)")
        .cloned()
        .unwrap();
    assert_eq!(
        fill["data"]["version"], 2,
        "the bad edit did not bump the version"
    );
    c.shutdown();
}

#[test]
fn malformed_and_unknown_messages_get_errors_and_the_server_keeps_serving() {
    let model = constant_model("a", 256);
    let mut c = ready_client(model.path(), json!({}));
    c.send_raw("{ this is not json");
    let r = c.request("dllm/noSuchMethod", json!({}));
    assert_eq!(r["error"]["code"], -32601, "{r}");
    let r = c.request(
        "textDocument/inlineCompletion",
        json!({"textDocument": {"uri": 7}}),
    );
    assert!(r.get("error").is_some(), "{r}");
    let r = c.request(
        "textDocument/inlineCompletion",
        json!({"textDocument": {"uri": "file:///not/open.rs"}, "position": pos(0, 0), "context": {"triggerKind": 1}}),
    );
    assert_eq!(r["error"]["code"], -32602, "{r}");
    let r = c.request(
        "workspace/executeCommand",
        json!({"command": "dllm.rewrite", "arguments": []}),
    );
    assert_eq!(r["error"]["code"], -32602, "{r}");
    // Still alive and answering.
    c.open(URI, "rust", "fn f() {\n    \n}\n");
    let r = c.request(
        "textDocument/inlineCompletion",
        json!({"textDocument": {"uri": URI}, "position": pos(1, 4), "context": {"triggerKind": 1}}),
    );
    assert_eq!(r["result"].as_array().map(Vec::len), Some(1), "{r}");
    c.shutdown();
}

#[test]
fn a_missing_model_is_reported_and_everything_else_keeps_working() {
    let mut c = Client::spawn();
    c.initialize(
        json!({"model": "/no/such/model/dir", "bogusSetting": 1}),
        &["utf-8", "utf-16"],
    );
    let warning = c.wait_notification(|n| {
        n["method"] == "window/showMessage"
            && n["params"]["message"]
                .as_str()
                .unwrap_or("")
                .contains("bogusSetting")
    });
    assert_eq!(warning["params"]["type"], 2);
    let shown =
        c.wait_notification(|n| n["method"] == "window/showMessage" && n["params"]["type"] == 1);
    assert!(
        shown["params"]["message"]
            .as_str()
            .unwrap()
            .contains("/no/such/model/dir"),
        "{shown}"
    );
    assert_eq!(c.wait_model()["state"], "failed");
    c.open(URI, "rust", "fn f() -> i32 {\n    todo!()\n}\n");
    let r = c.request(
        "textDocument/inlineCompletion",
        json!({"textDocument": {"uri": URI}, "position": pos(1, 4), "context": {"triggerKind": 2}}),
    );
    assert_eq!(
        r["result"],
        json!([]),
        "no model: an empty answer, not an error"
    );
    let r = c.request(
        "textDocument/codeAction",
        json!({"textDocument": {"uri": URI}, "range": {"start": pos(1, 4), "end": pos(1, 4)}, "context": {"diagnostics": []}}),
    );
    assert!(
        !r["result"].as_array().unwrap().is_empty(),
        "listing actions needs no model: {r}"
    );

    // A working model configured later loads and serves.
    let model = constant_model("a", 256);
    c.notify(
        "workspace/didChangeConfiguration",
        json!({"settings": {"dllm": {"model": model.path().to_str().unwrap()}}}),
    );
    assert_eq!(c.wait_model()["state"], "ready");
    c.shutdown();
}

#[test]
fn cancelling_a_request_or_editing_the_document_stops_the_sampler() {
    // A long job: 1,500 masked tokens decided one per step.
    let model = constant_model("a", 4096);
    let mut c = ready_client(
        model.path(),
        json!({"maxTokensBlock": 1500, "steps": null, "threshold": null}),
    );
    c.open(URI, "rust", "fn f() -> i32 {\n    todo!()\n}\n");
    let started = std::time::Instant::now();
    let id = c.start_request(
        "workspace/executeCommand",
        json!({"command": "dllm.fillHoles", "arguments": [{"uri": URI, "position": pos(1, 4)}]}),
    );
    std::thread::sleep(std::time::Duration::from_millis(300));
    c.notify("$/cancelRequest", json!({"id": id}));
    let r = c.response(id);
    let cancelled_after = started.elapsed();
    assert!(
        r.get("error").is_some() || r["result"]["applied"] == false,
        "{r}"
    );
    assert!(
        c.applied_edits.is_empty(),
        "a cancelled request must not edit"
    );

    // The same job, uncancelled but interrupted by an edit of the document.
    let id = c.start_request(
        "workspace/executeCommand",
        json!({"command": "dllm.fillHoles", "arguments": [{"uri": URI, "position": pos(1, 4)}]}),
    );
    std::thread::sleep(std::time::Duration::from_millis(300));
    c.notify(
        "textDocument/didChange",
        json!({"textDocument": {"uri": URI, "version": 2}, "contentChanges": [{"range": {"start": pos(0, 0), "end": pos(0, 0)}, "text": " "}]}),
    );
    let r = c.response(id);
    assert!(
        r.get("error").is_some(),
        "an edit cancels work on the old text: {r}"
    );
    assert!(c.applied_edits.is_empty());
    eprintln!("cancelled after {cancelled_after:?}");
    c.shutdown();
}

#[test]
fn with_no_model_configured_the_embedded_default_model_serves() {
    // What a plain install does: no model setting at all. The binary carries the project's
    // default model (models/default, embedded by build.rs) and unpacks it into the cache dir.
    let cache = tempfile::tempdir().unwrap();
    let mut c = Client::spawn_with_env(&[("DLLM_CACHE_DIR", cache.path())]);
    c.initialize(json!({}), &["utf-16"]);
    let status = c.wait_model();
    assert_eq!(status["state"], "ready", "{status}");
    assert!(
        status["model"]
            .as_str()
            .unwrap()
            .contains("embedded default model"),
        "{status}"
    );
    // Users plan memory by the weights' resident size and format.
    assert!(status["residentMb"].as_u64().unwrap() > 0, "{status}");
    assert_eq!(status["weights"], "f32", "{status}");
    assert!(
        status["model"].as_str().unwrap().ends_with(", f32)"),
        "{status}"
    );
    let unpacked: Vec<_> = std::fs::read_dir(cache.path())
        .unwrap()
        .flatten()
        .flat_map(|d| std::fs::read_dir(d.path()).unwrap().flatten())
        .map(|f| f.file_name().into_string().unwrap())
        .collect();
    for f in ["config.json", "model.safetensors", "tokenizer.json"] {
        assert!(unpacked.iter().any(|u| u == f), "{f} not in {unpacked:?}");
    }
    let uri = "file:///tmp/e2e/default.py";
    c.open(
        uri,
        "python",
        "def add(a, b):\n    return \n\nprint(add(1, 2))\n",
    );
    let r = c.request(
        "textDocument/inlineCompletion",
        json!({"textDocument": {"uri": uri}, "position": pos(1, 11), "context": {"triggerKind": 1}}),
    );
    assert!(r["result"].is_array(), "an answer, not an error: {r}");
    c.shutdown();
}

#[test]
fn a_client_that_never_answers_apply_edit_does_not_hold_the_command() {
    let model = constant_model("a", 256);
    let mut c = ready_client(model.path(), json!({}));
    c.open(URI, "rust", "fn f() -> i32 {\n    todo!()\n}\n");
    c.answer_server_requests = false;
    let started = std::time::Instant::now();
    let r = c.request(
        "workspace/executeCommand",
        json!({"command": "dllm.fillHoles", "arguments": [{"uri": URI, "position": pos(1, 4)}]}),
    );
    let waited = started.elapsed();
    assert_eq!(r["result"]["applied"], false, "{r}");
    assert!(
        c.server_requests
            .iter()
            .any(|m| m["method"] == "workspace/applyEdit"),
        "the edit was sent"
    );
    // The server waits 10 s for the answer, then gives up.
    assert!(
        (9..40).contains(&waited.as_secs()),
        "answered after {waited:?}"
    );
    c.answer_server_requests = true;
    assert_eq!(c.wait_model()["state"], "ready");
    c.shutdown();
}
