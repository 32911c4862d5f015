//! Inception's API, replayed: each fixture is a request/response pair from Inception's public
//! API reference (the OpenAPI document behind https://docs.inceptionlabs.ai, as mirrored in
//! the public repository api-evangelist/inception-labs, `openapi/inception-labs-*-openapi.yml`).
//! A loopback server checks that the client sends the documented request and answers with the
//! documented response; the client must read the documented answer out of it.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use dllm_models::SamplerOptions;
use serde_json::{json, Value};

use super::test_server::{Reply, TestServer};
use super::*;

/// Source: https://docs.inceptionlabs.ai (API reference, "Create a fill-in-the-middle
/// completion", POST /v1/fim/completions: the request example and the 200 example).
const FIM_PROMPT: &str = "def fibonacci(n: int) -> int:\n    if n <= 1:\n        return n\n    return ";
const FIM_SUFFIX: &str = "\n\nprint(fibonacci(10))\n";
fn fim_response() -> Value {
    json!({
        "id": "cmpl-7a2b3c4d5e",
        "object": "text_completion",
        "created": 1745798400,
        "model": "mercury-edit-2",
        "choices": [{"index": 0, "finish_reason": "stop", "text": "fibonacci(n - 1) + fibonacci(n - 2)"}],
        "usage": {"prompt_tokens": 24, "completion_tokens": 14, "total_tokens": 38,
                  "reasoning_tokens": 0, "cached_input_tokens": 0}
    })
}

/// Source: the same operation's `text/event-stream` answer: `TextCompletionChunk` objects
/// (`{id, object: "text_completion", created, model, choices: [{index, text, finish_reason}]}`)
/// terminated by `data: [DONE]`; with `stream_options.include_usage` a last chunk with empty
/// `choices` and the usage.
fn fim_stream() -> Vec<String> {
    let chunk = |text: &str, finish: Value| {
        json!({"id": "cmpl-7a2b3c4d5e", "object": "text_completion", "created": 1745798400,
               "model": "mercury-edit-2",
               "choices": [{"index": 0, "text": text, "finish_reason": finish}]})
        .to_string()
    };
    vec![
        chunk("fibonacci(n - 1)", Value::Null),
        chunk(" + fibonacci(n - 2)", json!("stop")),
        json!({"id": "cmpl-7a2b3c4d5e", "object": "text_completion", "created": 1745798400,
               "model": "mercury-edit-2", "choices": [],
               "usage": {"prompt_tokens": 24, "completion_tokens": 14, "total_tokens": 38}})
        .to_string(),
    ]
}

/// Source: https://docs.inceptionlabs.ai (API reference, "Create a chat completion",
/// POST /v1/chat/completions: the 200 example; streamed as `ChatCompletionChunk` deltas).
fn chat_stream() -> Vec<String> {
    let chunk = |delta: Value| {
        json!({"id": "chatcmpl-7a2b3c4d5e", "object": "chat.completion.chunk",
               "created": 1745798400, "model": "mercury-2",
               "choices": [{"index": 0, "delta": delta, "finish_reason": null}]})
        .to_string()
    };
    vec![
        chunk(json!({"role": "assistant", "content": ""})),
        chunk(json!({"content": "A diffusion language model is a type of language model "})),
        chunk(json!({"content": "that uses diffusion to generate text."})),
    ]
}

/// Source: the error examples of the same operations (401, 404, 429, 500), all
/// `{"error": {"message", "type", "param", "code"}}`.
fn error_body(status: u16) -> Value {
    let (message, kind, code) = match status {
        401 => ("Incorrect API key provided", "authentication_error", "invalid_api_key"),
        404 => ("model `jupyter-2` not found", "invalid_request_error", "model_not_found"),
        429 => ("Rate limit exceeded. Please try again later.", "rate_limit_error", "rate_limit_reached"),
        _ => ("The server had an error while processing your request.", "server_error", "server_error"),
    };
    json!({"error": {"message": message, "type": kind, "param": null, "code": code}})
}

const KEY_VAR: &str = "DLLM_CONTRACT_TEST_KEY";
const KEY: &str = "sk-contract-test-0123456789";

fn engine(server: &TestServer, api: Api, key: bool) -> RemoteEngine {
    if key {
        std::env::set_var(KEY_VAR, KEY);
    }
    RemoteEngine::new(
        RemoteSettings {
            endpoint: Some(server.url()),
            api,
            model: Some("mercury-edit-2".into()),
            api_key_env: key.then(|| KEY_VAR.to_string()),
            timeout: Duration::from_secs(10),
        },
        Arc::new(Mutex::new(RemoteStatus::default())),
    )
}

fn block_on<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

#[test]
fn fim_sends_the_documented_request_and_reads_the_documented_answer() {
    for streamed in [false, true] {
        let server = TestServer::start(move |_, _| match streamed {
            true => Reply::events(fim_stream()),
            false => Reply::json(200, fim_response()),
        });
        let remote = engine(&server, Api::Fim, true);
        let sampler = SamplerOptions::default();
        let text = block_on(remote.fill(FIM_PROMPT, FIM_SUFFIX, 256, Stop::Block, &sampler));
        assert_eq!(text.unwrap(), "fibonacci(n - 1) + fibonacci(n - 2)");
        let request = &server.requests()[0];
        assert_eq!((request.method.as_str(), request.path.as_str()), ("POST", "/v1/fim/completions"));
        assert_eq!(request.header("authorization"), Some(format!("Bearer {KEY}").as_str()));
        assert_eq!(request.header("content-type"), Some("application/json"));
        let body = request.json();
        // The documented request's fields, as documented.
        assert_eq!(body["model"], "mercury-edit-2");
        assert_eq!(body["prompt"], FIM_PROMPT);
        assert_eq!(body["suffix"], FIM_SUFFIX);
        assert_eq!(body["max_tokens"], 256);
        assert_eq!(body["stream"], true);
        assert!(body["stop"].is_array() && body["temperature"].is_number());
        let status = remote.status.lock().unwrap().clone();
        assert!(status.last_latency.is_some() && status.last_error.is_none());
    }
}

#[test]
fn chat_streams_deltas_until_done() {
    let server = TestServer::start(|_, _| Reply::events(chat_stream()));
    let remote = engine(&server, Api::Fim, true);
    let answer = block_on(remote.instruct("What is a diffusion language model?", 256, &SamplerOptions::default()));
    assert_eq!(
        answer.unwrap(),
        "A diffusion language model is a type of language model that uses diffusion to generate text."
    );
    let request = &server.requests()[0];
    assert_eq!(request.path, "/v1/chat/completions");
    assert_eq!(
        request.json()["messages"],
        json!([{"role": "user", "content": "What is a diffusion language model?"}])
    );
}

#[test]
fn documented_errors_become_typed_errors_that_never_hold_the_key() {
    for status in [401, 404, 429, 500] {
        let server = TestServer::start(move |_, _| Reply::json(status, error_body(status)));
        let remote = engine(&server, Api::Fim, true);
        let error = block_on(remote.fill("a", "b", 8, Stop::Line, &SamplerOptions::default()))
            .unwrap_err();
        match (status, &error) {
            (401, RemoteError::AuthRejected { var, .. }) => assert_eq!(var, KEY_VAR),
            (404, RemoteError::NotFound { detail, .. }) => assert!(detail.contains("jupyter-2")),
            (429 | 500, RemoteError::Unavailable { attempts, detail, .. }) => {
                assert_eq!(*attempts, http::MAX_ATTEMPTS, "{error}");
                assert!(detail.contains(error_body(status)["error"]["message"].as_str().unwrap()));
            }
            _ => panic!("{status}: {error:?}"),
        }
        let shown = error.to_string();
        assert!(!shown.contains(KEY), "{shown}");
        let expected = if matches!(status, 429 | 500) { http::MAX_ATTEMPTS } else { 1 };
        assert_eq!(server.requests().len(), expected, "{status}");
        let fared = remote.status.lock().unwrap().clone();
        assert_eq!(fared.last_error.as_deref(), Some(shown.as_str()));
    }
}
