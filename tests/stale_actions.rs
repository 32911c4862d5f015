//! A code action listed on one text must never be resolved on another. The version alone does
//! not tell them apart: a reopened document starts again at version 1, so after a close, a
//! reopen and two changes it is at the listed action's version again, with other text.

mod common;

use common::{constant_model, Client};
use serde_json::{json, Value};

const URI: &str = "file:///tmp/stale/lib.rs";

fn pos(line: u32, character: u32) -> Value {
    json!({"line": line, "character": character})
}

fn ready_client() -> (Client, tempfile::TempDir) {
    let model = constant_model("a", 256);
    let mut c = Client::spawn();
    c.initialize(
        json!({"model": model.path().to_str().unwrap(), "steps": 8, "maxTokensBlock": 6}),
        &["utf-16"],
    );
    assert_eq!(c.wait_model()["state"], "ready");
    (c, model)
}

fn open_at_version_3(c: &mut Client, text: &str) {
    c.open(URI, "rust", text);
    for version in [2, 3] {
        c.notify(
            "textDocument/didChange",
            json!({"textDocument": {"uri": URI, "version": version}, "contentChanges": [{"range": {"start": pos(0, 0), "end": pos(0, 0)}, "text": "// x\n"}]}),
        );
    }
}

fn action(c: &mut Client, at: Value, title: &str) -> Value {
    let r = c.request(
        "textDocument/codeAction",
        json!({"textDocument": {"uri": URI}, "range": {"start": at, "end": at}, "context": {"diagnostics": []}}),
    );
    r["result"]
        .as_array()
        .unwrap_or_else(|| panic!("{r}"))
        .iter()
        .find(|a| a["title"] == title)
        .cloned()
        .unwrap_or_else(|| panic!("{title} not offered: {r}"))
}

#[test]
fn an_action_listed_before_a_reopen_is_stale_at_the_same_version() {
    let (mut c, _model) = ready_client();
    // Version 3: the cursor is in the body of a long function, far down the file.
    let long =
        "fn f(x: i32) -> i32 {\n    let y = 1;\n    let z = 2;\n    let w = 3;\n    todo!()\n}\n";
    open_at_version_3(&mut c, long);
    let complete = action(&mut c, pos(6, 8), "Complete this block (dllm)");
    let fill = action(&mut c, pos(6, 8), "Fill holes (dllm)");

    // Closed and opened again with other text, then changed twice: version 3 once more.
    c.notify(
        "textDocument/didClose",
        json!({"textDocument": {"uri": URI}}),
    );
    open_at_version_3(&mut c, "fn g() {\n    todo!()\n}\n");

    for stale in [complete, fill] {
        let r = c.request("codeAction/resolve", stale);
        assert_eq!(r["error"]["code"], -32801, "{r}");
    }
    assert!(c.applied_edits.is_empty());

    // An action listed on the reopened text resolves as usual.
    let fresh = action(&mut c, pos(3, 4), "Fill holes (dllm)");
    let r = c.request("codeAction/resolve", fresh);
    let change = &r["result"]["edit"]["documentChanges"][0];
    assert_eq!(change["textDocument"]["version"], 3, "{r}");
    c.shutdown();
}

#[test]
fn an_action_listed_before_an_open_without_a_close_is_stale() {
    let (mut c, _model) = ready_client();
    c.open(URI, "rust", "fn f() -> i32 {\n    todo!()\n}\n");
    let fill = action(&mut c, pos(1, 4), "Fill holes (dllm)");
    // The same URI opened again at the same version, with the hole elsewhere.
    c.open(URI, "rust", "// moved\n\nfn f() -> i32 {\n    todo!()\n}\n");
    let r = c.request("codeAction/resolve", fill);
    assert_eq!(r["error"]["code"], -32801, "{r}");
    c.shutdown();
}
