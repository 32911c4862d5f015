//! Requests made while the model loads wait for it (`server/src/lsp/loading.rs`). The model
//! loads slowly here through `DLLM_TEST_LOAD_DELAY_MS`, which only test builds read; the wait's
//! bound is shortened with `DLLM_TEST_LOAD_WAIT_MS`.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::{apply, pos, URI};
use crate::common::{constant_model, Client};

const TEXT: &str =
    "fn f(x: i32) -> i32 {\n    let y = todo!();\n    y + x\n}\n\nfn g() -> i32 {\n    \n}\n";
const FILLED: &str =
    "fn f(x: i32) -> i32 {\n    let y = aaaaaa;\n    y + x\n}\n\nfn g() -> i32 {\n    \n}\n";

/// A server whose model takes `delay_ms` to load, initialized and with [`TEXT`] open, its
/// model still loading.
fn loading_client(model: &Path, env: &[(&str, &str)]) -> Client {
    let env: Vec<(&str, &Path)> = env.iter().map(|(k, v)| (*k, Path::new(*v))).collect();
    let mut c = Client::spawn_with_env(&env);
    c.initialize(
        json!({"model": model.to_str().unwrap(), "steps": 8, "maxTokensBlock": 6, "maxTokensInline": 6}),
        &["utf-16"],
    );
    c.open(URI, "rust", TEXT);
    let status = status(&mut c);
    assert_eq!(
        status["state"], "loading",
        "the requests must come while the model loads: {status}"
    );
    c
}

fn status(c: &mut Client) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let s = c.request(
            "workspace/executeCommand",
            json!({"command": "dllm.status", "arguments": []}),
        );
        if s["result"]["state"] != "not_loaded" || Instant::now() > deadline {
            return s["result"].clone();
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn inline_at(c: &mut Client, line: u32, character: u32) -> i64 {
    c.start_request(
        "textDocument/inlineCompletion",
        json!({"textDocument": {"uri": URI}, "position": pos(line, character), "context": {"triggerKind": 2}}),
    )
}

/// The listed "Fill holes" action at the `todo!()` (listing needs no model).
fn fill_holes_action(c: &mut Client) -> Value {
    let hole = pos(1, 12);
    let r = c.request(
        "textDocument/codeAction",
        json!({"textDocument": {"uri": URI}, "range": {"start": hole, "end": hole}, "context": {"diagnostics": []}}),
    );
    r["result"]
        .as_array()
        .unwrap_or_else(|| panic!("{r}"))
        .iter()
        .find(|a| a["title"] == "Fill holes (dllm)")
        .cloned()
        .unwrap_or_else(|| panic!("Fill holes listed: {r}"))
}

#[test]
fn inline_completion_and_fill_holes_sent_while_the_model_loads_get_real_answers() {
    let model = constant_model("a", 256);
    let mut c = loading_client(model.path(), &[("DLLM_TEST_LOAD_DELAY_MS", "2000")]);
    let replaced = inline_at(&mut c, 6, 4);
    let inline = inline_at(&mut c, 6, 4);
    let fill = fill_holes_action(&mut c);
    let resolve = c.start_request("codeAction/resolve", fill);

    let r = c.response(replaced);
    assert_eq!(
        r["error"]["code"], -32800,
        "a newer keystroke's request replaces one that waits: {r}"
    );
    let r = c.response(inline);
    let items = r["result"].as_array().unwrap_or_else(|| panic!("{r}"));
    assert_eq!(
        items.len(),
        1,
        "a real suggestion, not an empty answer: {r}"
    );
    assert_eq!(items[0]["insertText"], "aaaaaa");
    let r = c.response(resolve);
    let change = &r["result"]["edit"]["documentChanges"][0];
    let edits = change["edits"]
        .as_array()
        .unwrap_or_else(|| panic!("an edit, not an empty answer: {r}"));
    assert_eq!(change["textDocument"]["version"], 1);
    assert_eq!(apply(TEXT, edits), FILLED);

    // The load was shown with its percentage and megabytes (the client advertised
    // window.workDoneProgress).
    let is_progress =
        |n: &Value, kind: &str| n["method"] == "$/progress" && n["params"]["value"]["kind"] == kind;
    c.wait_notification(|n| is_progress(n, "end"));
    let begin = c.notifications.iter().find(|n| is_progress(n, "begin"));
    assert_eq!(begin.unwrap()["params"]["value"]["percentage"], 0);
    let last = c
        .notifications
        .iter()
        .filter(|n| is_progress(n, "report"))
        .last()
        .unwrap_or_else(|| panic!("progress reports: {:?}", c.notifications))
        .clone();
    assert_eq!(last["params"]["value"]["percentage"], 100, "{last}");
    let message = last["params"]["value"]["message"].as_str().unwrap();
    assert!(
        message.starts_with("reading the weights: ") && message.ends_with(" MB"),
        "{message}"
    );
    c.shutdown();
}

#[test]
fn waiting_requests_end_at_an_edit_and_past_the_bound_say_the_model_is_still_loading() {
    let model = constant_model("a", 256);
    let mut c = loading_client(
        model.path(),
        &[
            ("DLLM_TEST_LOAD_DELAY_MS", "8000"),
            ("DLLM_TEST_LOAD_WAIT_MS", "1500"),
        ],
    );
    // Three waiting requests and the load itself: an edit must still get through and end them
    // (with the library's default of four messages at once it would wait for the load).
    let fill = fill_holes_action(&mut c);
    let started = Instant::now();
    let waiting = [
        c.start_request("codeAction/resolve", fill),
        c.start_request(
            "workspace/executeCommand",
            json!({"command": "dllm.fillHoles", "arguments": [{"uri": URI, "position": pos(1, 12)}]}),
        ),
        inline_at(&mut c, 6, 4),
    ];
    std::thread::sleep(Duration::from_millis(200));
    c.notify(
        "textDocument/didChange",
        json!({"textDocument": {"uri": URI, "version": 2}, "contentChanges": [{"range": {"start": pos(0, 0), "end": pos(0, 0)}, "text": " "}]}),
    );
    for id in waiting {
        let r = c.response(id);
        assert_eq!(r["error"]["code"], -32800, "the edit cancels the wait: {r}");
    }
    assert!(
        started.elapsed() < Duration::from_millis(1500),
        "cancelled before the bound, after {:?}",
        started.elapsed()
    );
    assert!(c.applied_edits.is_empty());

    // Past the bound: a clear answer, and the server keeps serving.
    let fill = fill_holes_action(&mut c);
    let resolve = c.start_request("codeAction/resolve", fill.clone());
    let inline = inline_at(&mut c, 6, 4);
    let r = c.response(resolve);
    assert_eq!(r["error"]["code"], -32803, "{r}");
    let message = r["error"]["message"].as_str().unwrap();
    assert!(message.contains("still loading"), "{message}");
    let r = c.response(inline);
    assert_eq!(r["result"], json!([]), "an empty answer, logged: {r}");
    assert_eq!(status(&mut c)["state"], "loading");

    assert_eq!(c.wait_model()["state"], "ready");
    let r = c.request("codeAction/resolve", fill);
    assert!(r["result"]["edit"].is_object(), "{r}");
    c.shutdown();
}
