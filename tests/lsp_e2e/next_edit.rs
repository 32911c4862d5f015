//! `dllm/nextEdit` end to end with the known-answer model, which fills every masked position
//! with `a` (six of them for a name): after a rename at a definition the next use follows,
//! one use at a time, until none is left; a rename the model does not agree with gets no
//! suggestion; the setting turns the feature off.

use serde_json::{json, Value};

use super::{apply, pos, ready_client, URI};
use crate::common::{constant_model, Client};

const TEXT: &str = "fn f(x: i32) -> i32 {\n    let y = x + 1;\n    let z = y * 2;\n    y + z\n}\n";

fn change(c: &mut Client, version: i32, start: Value, end: Value, text: &str) {
    c.notify(
        "textDocument/didChange",
        json!({"textDocument": {"uri": URI, "version": version},
               "contentChanges": [{"range": {"start": start, "end": end}, "text": text}]}),
    );
}

fn next_edit(c: &mut Client, at: Value) -> Value {
    let r = c.request(
        "dllm/nextEdit",
        json!({"textDocument": {"uri": URI}, "position": at}),
    );
    assert!(r.get("error").is_none(), "{r}");
    r["result"].clone()
}

#[test]
fn a_rename_at_the_definition_is_followed_use_by_use() {
    let model = constant_model("a", 256);
    let mut c = ready_client(model.path(), json!({}));
    c.open(URI, "rust", TEXT);
    let status = c.request("workspace/executeCommand", json!({"command": "dllm.status"}));
    assert_eq!(status["result"]["nextEdit"], true, "{status}");
    // Nothing edited yet: nothing follows.
    assert_eq!(next_edit(&mut c, pos(1, 8)), Value::Null);

    // `y` selected and typed over, one keystroke at a time: one edit in the history.
    change(&mut c, 2, pos(1, 8), pos(1, 9), "a");
    for (i, version) in (3..8).enumerate() {
        let col = 9 + i as u32;
        change(&mut c, version, pos(1, col), pos(1, col), "a");
    }
    let mut text = TEXT.replacen("let y", "let aaaaaa", 1);
    let suggestion = next_edit(&mut c, pos(1, 14));
    assert_eq!(suggestion["version"], 7, "{suggestion}");
    assert_eq!(suggestion["uri"], URI);
    assert_eq!(suggestion["newText"], "aaaaaa");
    assert_eq!(suggestion["range"], json!({"start": pos(2, 12), "end": pos(2, 13)}));
    assert!(suggestion["label"].as_str().unwrap().contains("rename"), "{suggestion}");

    // Accepted: the next use follows, then nothing is left to rename.
    text = apply(&text, &[suggestion.clone()]);
    change(&mut c, 8, pos(2, 12), pos(2, 13), "aaaaaa");
    let suggestion = next_edit(&mut c, pos(2, 18));
    assert_eq!(suggestion["range"], json!({"start": pos(3, 4), "end": pos(3, 5)}), "{suggestion}");
    assert_eq!(suggestion["version"], 8);
    text = apply(&text, &[suggestion.clone()]);
    assert_eq!(
        text,
        "fn f(x: i32) -> i32 {\n    let aaaaaa = x + 1;\n    let z = aaaaaa * 2;\n    aaaaaa + z\n}\n"
    );
    change(&mut c, 9, pos(3, 4), pos(3, 5), "aaaaaa");
    assert_eq!(next_edit(&mut c, pos(3, 10)), Value::Null);
    c.shutdown();
}

#[test]
fn a_rename_the_model_does_not_follow_gets_no_suggestion_and_the_setting_turns_it_off() {
    let model = constant_model("a", 256);
    let mut c = ready_client(model.path(), json!({}));
    c.open(URI, "rust", TEXT);
    // The model fills `aaaaaa`, not the user's `zz`: no suggestion rather than a wrong one.
    change(&mut c, 2, pos(1, 8), pos(1, 9), "zz");
    assert_eq!(next_edit(&mut c, pos(1, 10)), Value::Null);

    change(&mut c, 3, pos(1, 8), pos(1, 10), "aaaaaa");
    assert_ne!(next_edit(&mut c, pos(1, 14)), Value::Null);
    c.notify(
        "workspace/didChangeConfiguration",
        json!({"settings": {"dllm": {"nextEditSuggestions": false}}}),
    );
    assert_eq!(next_edit(&mut c, pos(1, 14)), Value::Null);
    let status = c.request("workspace/executeCommand", json!({"command": "dllm.status"}));
    assert_eq!(status["result"]["nextEdit"], false, "{status}");
    c.shutdown();
}

#[test]
fn a_request_for_a_document_not_open_or_a_position_out_of_range_is_an_error() {
    let model = constant_model("a", 256);
    let mut c = ready_client(model.path(), json!({}));
    let r = c.request(
        "dllm/nextEdit",
        json!({"textDocument": {"uri": "file:///nowhere.rs"}, "position": pos(0, 0)}),
    );
    assert_eq!(r["error"]["code"], -32602, "{r}");
    c.open(URI, "rust", TEXT);
    let r = c.request(
        "dllm/nextEdit",
        json!({"textDocument": {"uri": URI}, "position": pos(99, 0)}),
    );
    assert_eq!(r["error"]["code"], -32602, "{r}");
    let r = c.request("dllm/nextEdit", json!({"textDocument": {}}));
    assert!(r["error"]["code"].is_i64(), "{r}");
    // The server keeps serving.
    assert_eq!(next_edit(&mut c, pos(0, 0)), Value::Null);
    c.shutdown();
}
