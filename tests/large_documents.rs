//! Sizes: a large document opens and is answered (from a window around the cursor), and a
//! request too large for a limit is refused as invalid params naming the size and the limit.

mod common;

use common::{constant_model, Client};
use serde_json::{json, Value};

fn ready_client(model: &std::path::Path) -> Client {
    let mut c = Client::spawn();
    c.initialize(
        json!({"model": model.to_str().unwrap(), "steps": 8, "maxTokensBlock": 6, "maxTokensInline": 6}),
        &["utf-16"],
    );
    assert_eq!(c.wait_model()["state"], "ready");
    c
}

fn pos(line: u32, character: u32) -> Value {
    json!({"line": line, "character": character})
}

/// About `bytes` of Rust: many small functions, with an empty line inside the middle one.
fn large_rust(bytes: usize) -> (String, u32) {
    let mut text = String::with_capacity(bytes + 100);
    let (mut i, mut cursor_line, mut lines) = (0, 0, 0);
    while text.len() < bytes {
        if cursor_line == 0 && text.len() >= bytes / 2 {
            text.push_str("fn middle(x: i32) -> i32 {\n    x + \n}\n\n");
            cursor_line = lines + 1;
            lines += 4;
        }
        text.push_str(&format!("fn f{i}(x: i32) -> i32 {{\n    x * {i}\n}}\n\n"));
        i += 1;
        lines += 4;
    }
    (text, cursor_line)
}

#[test]
fn a_20_mb_document_opens_and_inline_completion_answers() {
    let model = constant_model("a", 256);
    let mut c = ready_client(model.path());
    let uri = "file:///tmp/large/big.rs";
    let (text, line) = large_rust(20 << 20);
    c.open(uri, "rust", &text);
    drop(text);
    let inline = |c: &mut Client, character: u32| {
        c.request(
            "textDocument/inlineCompletion",
            json!({"textDocument": {"uri": uri}, "position": pos(line, character), "context": {"triggerKind": 1}}),
        )
    };
    let r = inline(&mut c, 8);
    assert!(r["result"].is_array(), "an answer, not an error: {r}");
    assert_eq!(r["result"][0]["insertText"], "aaaaaa", "{r}");
    assert_eq!(r["result"][0]["range"]["start"], pos(line, 8), "{r}");
    // A keystroke, and the next answer comes from the edited text.
    c.notify(
        "textDocument/didChange",
        json!({"textDocument": {"uri": uri, "version": 2}, "contentChanges": [{"range": {"start": pos(line, 8), "end": pos(line, 8)}, "text": "1 + "}]}),
    );
    let r = inline(&mut c, 12);
    assert!(r["result"].is_array(), "{r}");
    // Code actions are listed from the window too.
    let r = c.request(
        "textDocument/codeAction",
        json!({"textDocument": {"uri": uri}, "range": {"start": pos(line, 4), "end": pos(line, 4)}, "context": {"diagnostics": []}}),
    );
    assert!(r["result"].is_array(), "{r}");
    // A whole-file action has no window to read: refused, with the size and the limit.
    let r = c.request(
        "workspace/executeCommand",
        json!({"command": "dllm.fillHoles", "arguments": [{"uri": uri}]}),
    );
    assert_eq!(r["error"]["code"], -32602, "{r}");
    let message = r["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("bytes") && message.contains("131072"),
        "{message}"
    );
    c.notify(
        "textDocument/didClose",
        json!({"textDocument": {"uri": uri}}),
    );
    c.shutdown();
}

#[test]
fn a_span_over_the_model_context_is_invalid_params() {
    // 256 positions; rewriting 1,500 bytes asks for about 500 tokens.
    let model = constant_model("a", 256);
    let mut c = ready_client(model.path());
    let uri = "file:///tmp/large/lib.rs";
    let body = "    let x = 1;\n".repeat(100);
    c.open(uri, "rust", &format!("fn f() {{\n{body}}}\n"));
    let r = c.request(
        "workspace/executeCommand",
        json!({"command": "dllm.rewrite", "arguments": [{"uri": uri, "range": {"start": pos(1, 0), "end": pos(101, 0)}}]}),
    );
    assert_eq!(r["error"]["code"], -32602, "{r}");
    let message = r["error"]["message"].as_str().unwrap();
    assert!(message.contains("256"), "the limit is named: {message}");
    c.shutdown();
}
