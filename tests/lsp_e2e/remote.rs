//! The remote backend end to end, through LSP, against a scripted HTTP server on loopback
//! (`dllm_ls::remote::test_server`): inline completion and Fill holes, cancelling mid-stream,
//! every failure of README's "Remote engines" followed by a request that works, and the API key
//! kept out of the log file, `dllm.status` and every message.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use dllm_ls::remote::test_server::{Body, Recorded, Reply, TestServer};
use serde_json::{json, Value};

use super::{apply, pos, URI};
use crate::common::{constant_model, Client};

const KEY_VAR: &str = "DLLM_E2E_REMOTE_KEY";
const KEY: &str = "sk-e2e-6f1d0c9a-never-logged";
const EMPTY_BLOCK: &str = "fn f() -> i32 {\n    \n}\n";

/// What the scripted server answers next.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Mode {
    Answer,
    Unauthorized,
    NotFound,
    ServerError,
    BadJson,
    CutStream,
    Silent,
    /// A long stream, slow enough to cancel midway.
    Slow,
}

fn text_event(text: &str) -> String {
    json!({"choices": [{"index": 0, "text": text, "finish_reason": null}]}).to_string()
}

fn reply(mode: Mode) -> Reply {
    match mode {
        Mode::Answer => Reply::events([text_event("4"), text_event("2")]),
        Mode::Unauthorized => Reply::json(
            401,
            json!({"error": {"message": "Invalid API key", "type": "invalid_request_error"}}),
        ),
        Mode::NotFound => Reply::json(404, json!({"error": {"message": "Not found"}})),
        Mode::ServerError => Reply::json(500, json!({"error": {"message": "overloaded"}})),
        Mode::BadJson => Reply::events(["{\"choices\": 7}"]),
        Mode::CutStream => Reply::stream(vec![text_event("4")], Duration::ZERO, true),
        Mode::Silent => Reply {
            status: 200,
            headers: vec![],
            body: Body::Silence(Duration::from_secs(5)),
        },
        Mode::Slow => Reply::stream(
            (0..400).map(|_| text_event("x")).collect(),
            Duration::from_millis(25),
            false,
        ),
    }
}

/// A scripted server whose answers the test switches with [`Mode`].
fn scripted_server() -> (TestServer, Arc<Mutex<Mode>>) {
    let mode = Arc::new(Mutex::new(Mode::Answer));
    let current = mode.clone();
    let server = TestServer::start(move |_: &Recorded, _| reply(*current.lock().unwrap()));
    (server, mode)
}

/// A server process pointed at `endpoint` (api `fim`), logging to `log`, with the key in its
/// environment.
fn remote_client(endpoint: &str, log: &Path, extra: Value) -> Client {
    let model = constant_model("a", 256);
    let mut c = Client::spawn_with_env(&[("DLLM_LOG_FILE", log), (KEY_VAR, Path::new(KEY))]);
    let mut options = json!({
        "model": model.path().to_str().unwrap(), "backend": "remote", "endpoint": endpoint,
        "api": "fim", "remoteModel": "mercury-edit-2", "apiKeyEnv": KEY_VAR,
        "requestTimeoutMs": 2000,
    });
    options
        .as_object_mut()
        .unwrap()
        .extend(extra.as_object().cloned().unwrap_or_default());
    c.initialize(options, &["utf-16"]);
    assert_eq!(c.wait_model()["state"], "ready");
    // The model directory may go: requests are the remote engine's.
    drop(model);
    c
}

fn inline(c: &mut Client) -> Value {
    c.request(
        "textDocument/inlineCompletion",
        json!({"textDocument": {"uri": URI}, "position": pos(1, 4), "context": {"triggerKind": 1}}),
    )
}

fn status(c: &mut Client) -> Value {
    c.request(
        "workspace/executeCommand",
        json!({"command": "dllm.status", "arguments": []}),
    )
}

fn suggestion(response: &Value) -> Option<&str> {
    response["result"][0]["insertText"].as_str()
}

#[test]
fn inline_completion_and_fill_holes_come_from_the_remote_engine() {
    let (server, _) = scripted_server();
    let log = tempfile::NamedTempFile::new().unwrap();
    let mut c = remote_client(&server.url(), log.path(), json!({}));
    c.open(URI, "rust", EMPTY_BLOCK);
    let r = inline(&mut c);
    assert_eq!(suggestion(&r), Some("42"), "{r}");
    let request = &server.requests()[0];
    assert_eq!(request.path, "/v1/fim/completions");
    assert_eq!(request.json()["model"], "mercury-edit-2");
    assert_eq!(request.json()["stream"], true);
    assert_eq!(
        request.header("authorization"),
        Some(format!("Bearer {KEY}").as_str())
    );

    let other = "file:///tmp/e2e/holes.rs";
    let text = "fn g(x: i32) -> i32 {\n    let y = todo!();\n    y + x\n}\n";
    c.open(other, "rust", text);
    let r = c.request(
        "textDocument/codeAction",
        json!({"textDocument": {"uri": other}, "range": {"start": pos(1, 12), "end": pos(1, 12)}, "context": {"diagnostics": []}}),
    );
    let fill = r["result"]
        .as_array()
        .and_then(|a| a.iter().find(|a| a["title"] == "Fill holes (dllm)"))
        .cloned()
        .unwrap_or_else(|| panic!("{r}"));
    let resolved = c.request("codeAction/resolve", fill);
    let edits = resolved["result"]["edit"]["documentChanges"][0]["edits"]
        .as_array()
        .cloned()
        .unwrap_or_else(|| panic!("{resolved}"));
    assert_eq!(
        apply(text, &edits),
        "fn g(x: i32) -> i32 {\n    let y = 42;\n    y + x\n}\n"
    );
    let hole = server.requests().last().unwrap().json();
    assert_eq!(
        hole["prompt"], "fn g(x: i32) -> i32 {\n    let y = ",
        "{hole}"
    );
    assert_eq!(hole["suffix"], ";\n    y + x\n}\n", "{hole}");
    c.shutdown();
}

#[test]
fn cancelling_mid_stream_closes_the_connection() {
    let (server, mode) = scripted_server();
    *mode.lock().unwrap() = Mode::Slow;
    let log = tempfile::NamedTempFile::new().unwrap();
    let mut c = remote_client(
        &server.url(),
        log.path(),
        json!({"requestTimeoutMs": 60000}),
    );
    c.open(URI, "rust", "fn f() -> i32 {\n    todo!()\n}\n");
    let id = c.start_request(
        "workspace/executeCommand",
        json!({"command": "dllm.fillHoles", "arguments": [{"uri": URI, "position": pos(1, 4)}]}),
    );
    // The stream is under way (400 events, 25 ms apart: 10 s in all).
    let deadline = Instant::now() + Duration::from_secs(10);
    while server.requests().is_empty() {
        assert!(
            Instant::now() < deadline,
            "the request never reached the server"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(300));
    let cancelled = Instant::now();
    c.notify("$/cancelRequest", json!({"id": id}));
    let r = c.response(id);
    assert!(
        r.get("error").is_some() || r["result"]["applied"] == false,
        "{r}"
    );
    assert!(
        c.applied_edits.is_empty(),
        "a cancelled request must not edit"
    );
    // The server sees its stream closed long before the stream's end.
    while server.dropped() == 0 {
        assert!(
            cancelled.elapsed() < Duration::from_secs(5),
            "the connection stayed open after the cancel"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(server.requests().len(), 1);
    c.shutdown();
}

#[test]
fn after_each_failure_the_next_request_answers_and_the_key_stays_secret() {
    let (server, mode) = scripted_server();
    let log = tempfile::NamedTempFile::new().unwrap();
    let mut c = remote_client(&server.url(), log.path(), json!({"requestTimeoutMs": 1500}));
    c.open(URI, "rust", EMPTY_BLOCK);
    let mut seen = Vec::new();

    // Connection refused: a port nothing listens on (bound, then freed).
    let free = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    c.notify(
        "workspace/didChangeConfiguration",
        json!({"settings": {"dllm": {"endpoint": format!("http://{free}/v1")}}}),
    );
    let r = inline(&mut c);
    assert_eq!(suggestion(&r), None, "{r}");
    let s = status(&mut c);
    assert!(s["result"]["lastError"].is_string(), "{s}");
    seen.extend([r, s]);
    c.notify(
        "workspace/didChangeConfiguration",
        json!({"settings": {"dllm": {"endpoint": server.url()}}}),
    );
    let r = inline(&mut c);
    assert_eq!(suggestion(&r), Some("42"), "after connection refused: {r}");

    let failures = [
        Mode::Unauthorized,
        Mode::NotFound,
        Mode::ServerError,
        Mode::BadJson,
        Mode::CutStream,
        Mode::Silent,
    ];
    for failure in failures {
        *mode.lock().unwrap() = failure;
        let before = server.requests().len();
        let r = inline(&mut c);
        assert_eq!(suggestion(&r), None, "{failure:?}: {r}");
        let s = status(&mut c);
        assert!(s["result"]["lastError"].is_string(), "{failure:?}: {s}");
        if failure == Mode::ServerError {
            assert_eq!(
                server.requests().len() - before,
                3,
                "a 500 is tried 3 times in all"
            );
        }
        seen.extend([r, s]);
        *mode.lock().unwrap() = Mode::Answer;
        let r = inline(&mut c);
        assert_eq!(suggestion(&r), Some("42"), "after {failure:?}: {r}");
        let s = status(&mut c);
        assert!(
            s["result"].get("lastError").is_none(),
            "after {failure:?}: {s}"
        );
        seen.extend([r, s]);
    }
    // The refused key earned one message, naming the variable.
    let shown: Vec<&Value> = c
        .notifications
        .iter()
        .filter(|n| n["method"] == "window/showMessage")
        .chain(
            c.server_requests
                .iter()
                .filter(|r| r["method"] == "window/showMessageRequest"),
        )
        .collect();
    assert!(
        shown.iter().any(|m| m.to_string().contains(KEY_VAR)),
        "no message names {KEY_VAR}: {shown:?}"
    );
    let everything = format!("{seen:?}{:?}{:?}", c.notifications, c.server_requests);
    assert!(!everything.contains(KEY), "the key reached a message");
    c.shutdown();
    let logged = std::fs::read_to_string(log.path()).unwrap();
    assert!(
        logged.contains("401"),
        "the log records the failures: {logged}"
    );
    assert!(!logged.contains(KEY), "the key reached the log file");
}

/// `uri`'s text changed at `range` (start and end positions) to `text`, bringing it to `version`.
fn change(c: &mut Client, version: i32, start: Value, end: Value, text: &str) {
    c.notify(
        "textDocument/didChange",
        json!({"textDocument": {"uri": URI, "version": version},
               "contentChanges": [{"range": {"start": start, "end": end}, "text": text}]}),
    );
}

#[test]
fn next_edit_is_the_change_in_the_region_the_remote_engine_rewrote() {
    const TEXT: &str = "fn scale(count: f64, values: &[f64]) -> Vec<f64> {\n    \
                        values.iter().map(|v| v * count).collect()\n}\n";
    const REWRITTEN: &str = "```rust\nfn scale(factor: f64, values: &[f64]) -> Vec<f64> {\n    \
                             values.iter().map(|v| v * factor).collect()\n}\n```";
    let server = TestServer::start(|request: &Recorded, _| match request.path.as_str() {
        "/v1/edit/completions" => Reply::json(
            200,
            json!({"object": "edit.completion", "model": "mercury-edit-2",
                   "choices": [{"index": 0, "finish_reason": "stop",
                                "message": {"role": "assistant", "content": REWRITTEN}}]}),
        ),
        _ => reply(Mode::Answer),
    });
    let log = tempfile::NamedTempFile::new().unwrap();
    let mut c = remote_client(&server.url(), log.path(), json!({}));
    c.open(URI, "rust", TEXT);
    // `count` selected and typed over with `factor`, one keystroke at a time.
    change(&mut c, 2, pos(0, 9), pos(0, 14), "f");
    for (i, letter) in "actor".chars().enumerate() {
        let col = 10 + i as u32;
        change(
            &mut c,
            3 + i as i32,
            pos(0, col),
            pos(0, col),
            &letter.to_string(),
        );
    }
    let r = c.request(
        "dllm/nextEdit",
        json!({"textDocument": {"uri": URI}, "position": pos(0, 15)}),
    );
    let suggestion = &r["result"];
    let use_at = TEXT.lines().nth(1).unwrap().find("count").unwrap() as u32;
    assert_eq!(suggestion["uri"], URI, "{r}");
    assert_eq!(suggestion["version"], 7, "{r}");
    assert_eq!(suggestion["newText"], "factor", "{r}");
    assert_eq!(
        suggestion["range"],
        json!({"start": pos(1, use_at), "end": pos(1, use_at + 5)})
    );
    assert!(
        suggestion["label"]
            .as_str()
            .unwrap()
            .contains("rename `count` → `factor`"),
        "{r}"
    );

    // One request, to /edit/completions, with the rename as the history's diff.
    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].path, "/v1/edit/completions");
    assert_eq!(
        requests[0].header("authorization"),
        Some(format!("Bearer {KEY}").as_str())
    );
    let body = requests[0].json();
    assert_eq!(body["model"], "mercury-edit-2");
    let message = body["messages"][0]["content"].as_str().unwrap();
    assert!(
        message.contains("current_file_path: /tmp/e2e/lib.rs\n"),
        "{message}"
    );
    assert!(
        message.contains("fn scale(factor<|cursor|>: f64"),
        "{message}"
    );
    assert!(
        message
            .contains("-fn scale(count: f64, values: &[f64]) -> Vec<f64> {\n+fn scale(factor: f64"),
        "{message}"
    );
    let s = status(&mut c);
    assert!(s["result"].get("lastError").is_none(), "{s}");
    let everything = format!("{r}{s}{:?}{:?}", c.notifications, c.server_requests);
    assert!(!everything.contains(KEY), "the key reached a message");
    c.shutdown();
    let logged = std::fs::read_to_string(log.path()).unwrap();
    assert!(
        logged.contains("next edit"),
        "the suggestion is logged: {logged}"
    );
    assert!(!logged.contains(KEY), "the key reached the log file");
}
