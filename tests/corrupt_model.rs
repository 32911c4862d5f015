//! A checkpoint whose `config.json` claims absurd sizes, or more than its weights hold, fails to
//! load with a message; the server keeps serving, and a valid model set afterwards loads.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::{constant_model, Client, TIMEOUT};
use serde_json::{json, Value};

const URI: &str = "file:///tmp/corrupt/lib.rs";

/// The known-answer model, with one field of its `config.json` replaced.
fn model_with(field: &str, value: Value) -> tempfile::TempDir {
    let dir = constant_model("a", 256);
    let path = dir.path().join("config.json");
    let mut config: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    config[field] = value;
    std::fs::write(&path, config.to_string()).unwrap();
    dir
}

fn set_model(c: &mut Client, model: &Path) {
    c.notify(
        "workspace/didChangeConfiguration",
        json!({"settings": {"dllm": {"model": model.to_str().unwrap()}}}),
    );
}

/// Polls `dllm.status` until it satisfies `pred`, and returns it.
fn wait_status(c: &mut Client, pred: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let s = c.request(
            "workspace/executeCommand",
            json!({"command": "dllm.status", "arguments": []}),
        )["result"]
            .clone();
        if pred(&s) {
            return s;
        }
        assert!(Instant::now() < deadline, "status never matched: {s}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn failed_with(s: &Value, text: &str) -> bool {
    s["state"] == "failed" && s["error"].as_str().unwrap_or("").contains(text)
}

/// The server still answers: an inline completion without a model is an empty answer.
fn assert_serving(c: &mut Client) {
    let r = c.request(
        "textDocument/inlineCompletion",
        json!({"textDocument": {"uri": URI}, "position": {"line": 1, "character": 4}, "context": {"triggerKind": 2}}),
    );
    assert_eq!(r["result"], json!([]), "{r}");
}

#[test]
fn an_absurd_config_fails_to_load_and_a_valid_model_loads_afterwards() {
    let absurd = model_with("num_hidden_layers", json!(1_000_000_000u64));
    let mut c = Client::spawn();
    c.initialize(
        json!({"model": absurd.path().to_str().unwrap()}),
        &["utf-16"],
    );
    let shown =
        c.wait_notification(|n| n["method"] == "window/showMessage" && n["params"]["type"] == 1);
    let message = shown["params"]["message"].as_str().unwrap();
    assert!(message.contains("num_hidden_layers"), "{message}");
    let status = wait_status(&mut c, |s| failed_with(s, "num_hidden_layers"));
    assert!(
        status["error"].as_str().unwrap().contains("1000000000"),
        "{status}"
    );
    c.open(URI, "rust", "fn f() -> i32 {\n    todo!()\n}\n");
    assert_serving(&mut c);

    // More layers than the weight files hold: the field and both numbers are named.
    let more = model_with("num_hidden_layers", json!(3));
    set_model(&mut c, more.path());
    let status = wait_status(&mut c, |s| failed_with(s, "the weights hold 2"));
    assert!(
        status["error"].as_str().unwrap().contains("= 3"),
        "{status}"
    );
    assert_serving(&mut c);

    // Large 64-bit values too: no allocation is sized from them.
    let huge = model_with("hidden_size", json!(u64::MAX));
    set_model(&mut c, huge.path());
    wait_status(&mut c, |s| {
        failed_with(s, "`hidden_size` = 18446744073709551615")
    });
    assert_serving(&mut c);

    let valid = constant_model("a", 256);
    set_model(&mut c, valid.path());
    let status = wait_status(&mut c, |s| s["state"] == "ready");
    assert!(
        status["model"]
            .as_str()
            .unwrap()
            .contains(valid.path().to_str().unwrap()),
        "{status}"
    );
    c.shutdown();
}
