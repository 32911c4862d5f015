//! The server process's transport and lifecycle, end to end over stdio: no message or frame
//! kills or silences it, and it always ends when the spec says it should.

mod common;

use std::time::Duration;

use common::{constant_model, Client};
use serde_json::{json, Value};

const ENDS_WITHIN: Duration = Duration::from_secs(15);

fn status(c: &mut Client) -> Value {
    c.request(
        "workspace/executeCommand",
        json!({"command": "dllm.status"}),
    )
}

fn initialized_client() -> (Client, tempfile::TempDir) {
    let model = constant_model("a", 256);
    let mut c = Client::spawn();
    c.initialize(
        json!({"model": model.path().to_str().unwrap()}),
        &["utf-16"],
    );
    (c, model)
}

#[test]
fn a_request_with_a_fractional_or_structured_id_is_invalid_and_the_server_goes_on() {
    let (mut c, _model) = initialized_client();
    for id in ["1.5", r#"{"a":1}"#, "[1]", "18446744073709551616"] {
        c.send_raw(&format!(
            r#"{{"jsonrpc":"2.0","id":{id},"method":"workspace/executeCommand","params":{{"command":"dllm.status"}}}}"#
        ));
        assert!(
            status(&mut c)["result"]["state"].is_string(),
            "after id {id}"
        );
    }
    c.shutdown();
}

#[test]
fn after_a_damaged_frame_the_next_messages_are_served() {
    let (mut c, _model) = initialized_client();
    let body = json!({"jsonrpc": "2.0", "method": "$/noop"}).to_string();
    let damages: Vec<Vec<u8>> = vec![
        format!("Content-Type: x\r\n\r\n{body}").into_bytes(),
        format!("Content-Length: 3\r\n\r\n{body}").into_bytes(),
        format!("Content-Length: -1\r\n\r\n{body}").into_bytes(),
        format!("Content-Length: 18446744073709551616\r\n\r\n{body}").into_bytes(),
        format!("Content-Length: 5\r\nContent-Length: 7\r\n\r\n{body}").into_bytes(),
        vec![0u8; 10 << 20],
    ];
    for damage in damages {
        c.send_bytes(&damage);
        assert!(status(&mut c)["result"]["state"].is_string());
    }
    // LF-only headers are read as headers.
    let request = json!({"jsonrpc": "2.0", "id": 777, "method": "workspace/executeCommand", "params": {"command": "dllm.status"}}).to_string();
    c.send_bytes(format!("Content-Length: {}\n\n{request}", request.len()).as_bytes());
    assert!(c.response(777)["result"]["state"].is_string());
    c.shutdown();
}

#[test]
fn an_unknown_dollar_request_is_answered_method_not_found() {
    let (mut c, _model) = initialized_client();
    let r = c.request("$/fooBar", json!({}));
    assert_eq!(r["error"]["code"], -32601, "{r}");
    c.shutdown();
}

#[test]
fn exit_without_shutdown_exits_with_1() {
    let (mut c, _model) = initialized_client();
    c.notify("exit", Value::Null);
    assert_eq!(c.exit_code_within(ENDS_WITHIN), Some(1));
}

#[test]
fn closed_input_ends_the_server() {
    let (mut c, _model) = initialized_client();
    c.close_stdin();
    assert_eq!(c.exit_code_within(ENDS_WITHIN), Some(1));
}

#[test]
fn a_client_that_never_answers_progress_cannot_hold_up_shutdown_or_exit() {
    let model = constant_model("a", 256);
    let mut c = Client::spawn();
    c.answer_server_requests = false;
    c.initialize(
        json!({"model": model.path().to_str().unwrap()}),
        &["utf-16"],
    );
    c.pump_for(Duration::from_millis(300));
    assert!(
        c.server_requests
            .iter()
            .any(|r| r["method"] == "window/workDoneProgress/create"),
        "the client advertised progress: {:?}",
        c.server_requests
    );
    let r = c.request("shutdown", Value::Null);
    assert!(r.get("error").is_none(), "{r}");
    c.notify("exit", Value::Null);
    assert_eq!(c.exit_code_within(ENDS_WITHIN), Some(0));
}

#[test]
fn progress_is_asked_for_only_where_the_client_advertised_it() {
    let model = constant_model("a", 256);
    let mut c = Client::spawn();
    let r = c.request(
        "initialize",
        json!({"processId": null, "capabilities": {}, "initializationOptions": {"model": model.path().to_str().unwrap()}}),
    );
    assert!(r.get("error").is_none(), "{r}");
    c.notify("initialized", json!({}));
    assert_eq!(c.wait_model()["state"], "ready");
    assert!(c.server_requests.is_empty(), "{:?}", c.server_requests);
    c.shutdown();
}

#[test]
fn the_server_exits_when_the_client_process_is_gone() {
    let mut editor = std::process::Command::new("sleep")
        .arg("600")
        .spawn()
        .unwrap();
    let mut c = Client::spawn();
    let r = c.request(
        "initialize",
        json!({"processId": editor.id(), "capabilities": {}}),
    );
    assert!(r.get("error").is_none(), "{r}");
    assert_eq!(
        c.exit_code_within(Duration::from_secs(4)),
        None,
        "exited while the client lived"
    );
    editor.kill().unwrap();
    editor.wait().unwrap();
    assert_eq!(c.exit_code_within(ENDS_WITHIN), Some(1));
}
