//! The remote engine against a real HTTP server on loopback: each failure the issue lists
//! gives a typed error (no answer), noted in the status, and the next request still works;
//! streams are read as they come and dropped when cancelled or complete.

use std::sync::Arc;
use std::time::{Duration, Instant};

use dllm_models::{CancelFlag, InfillRequest, SamplerOptions, Segment};
use serde_json::json;

use super::test_server::{Body, Reply, TestServer};
use super::*;
use crate::engine::EngineError;
use crate::infiller::Infiller;

fn settings(endpoint: &str, api: Api, timeout_ms: u64) -> RemoteSettings {
    RemoteSettings {
        endpoint: Some(endpoint.to_string()),
        api,
        model: Some("m".into()),
        api_key_env: None,
        timeout: Duration::from_millis(timeout_ms),
    }
}

fn remote(endpoint: &str, api: Api, timeout_ms: u64) -> RemoteEngine {
    RemoteEngine::new(settings(endpoint, api, timeout_ms), Arc::default())
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn fill(engine: &RemoteEngine, stop: Stop) -> Result<String, RemoteError> {
    runtime().block_on(engine.fill("x = ", "\n", 16, stop, &SamplerOptions::default()))
}

fn text_event(text: &str) -> String {
    json!({"choices": [{"index": 0, "text": text, "finish_reason": null}]}).to_string()
}

#[test]
fn each_failure_is_a_typed_error_in_the_status_and_the_next_request_works() {
    let server = TestServer::start(move |request, _| match request.json()["prompt"].as_str() {
        Some("x = ") => Reply::events([text_event("1")]),
        _ => Reply::json(500, json!({})),
    });
    let good = remote(&server.url(), Api::Completions, 5_000);
    // A port nothing listens on: bind one, then free it.
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let failures: Vec<(RemoteEngine, fn(&RemoteError) -> bool)> = vec![
        (remote(&format!("http://{free}/v1"), Api::Fim, 5_000), |e| {
            matches!(e, RemoteError::Connect { .. })
        }),
        (remote("http://no-such-host.invalid/v1", Api::Fim, 5_000), |e| {
            matches!(e, RemoteError::Dns { .. } | RemoteError::Timeout { .. })
        }),
        // TLS spoken to a server that answers in plain HTTP.
        (remote(&server.url().replace("http:", "https:"), Api::Fim, 5_000), |e| {
            matches!(e, RemoteError::Tls { .. })
        }),
        (remote("ftp://example.com", Api::Fim, 5_000), |e| {
            matches!(e, RemoteError::BadEndpoint(_))
        }),
    ];
    for (engine, expected) in failures {
        let error = fill(&engine, Stop::Line).unwrap_err();
        assert!(expected(&error), "{error:?}");
        let fared = engine.status.lock().unwrap().clone();
        assert_eq!(fared.last_error, Some(error.to_string()));
        assert_eq!(fill(&good, Stop::Line).unwrap(), "1", "the next request works");
    }
}

#[test]
fn bodies_timeouts_and_cut_streams_are_errors_without_an_answer() {
    let server = TestServer::start(|request, _| {
        match request.json()["prompt"].as_str().unwrap_or_default() {
            "json" => Reply {
                status: 200,
                headers: vec![("content-type".into(), "application/json".into())],
                body: Body::Whole("{\"choices\": ".into()),
            },
            "shape" => Reply::json(200, json!({"content": "not where fim puts it"})),
            "event" => Reply::events(["{not json"]),
            "cut" => Reply::stream(vec![text_event("a"), text_event("b")], Duration::ZERO, true),
            "ends" => Reply::stream(vec![text_event("a")], Duration::ZERO, false),
            "slow" => Reply {
                status: 200,
                headers: vec![],
                body: Body::Silence(Duration::from_secs(5)),
            },
            "forbidden" => Reply::json(403, json!({"error": "no key"})),
            "teapot" => Reply::json(418, json!({"error": {"message": "short and stout"}})),
            _ => Reply::events([text_event("ok")]),
        }
    });
    let engine = remote(&server.url(), Api::Completions, 400);
    let rt = runtime();
    let ask = |prompt: &str| {
        rt.block_on(engine.fill(prompt, "", 8, Stop::Block, &SamplerOptions::default()))
    };
    let cases: [(&str, fn(&RemoteError) -> bool); 8] = [
        ("json", |e| matches!(e, RemoteError::BadBody { .. })),
        ("shape", |e| matches!(e, RemoteError::BadBody { .. })),
        ("event", |e| matches!(e, RemoteError::BadBody { .. })),
        ("cut", |e| matches!(e, RemoteError::StreamCut { .. })),
        ("ends", |e| matches!(e, RemoteError::StreamCut { .. })),
        ("slow", |e| matches!(e, RemoteError::Timeout { .. })),
        ("forbidden", |e| matches!(e, RemoteError::AuthNeeded { status: 403, .. })),
        ("teapot", |e| matches!(e, RemoteError::Rejected { status: 418, .. })),
    ];
    for (prompt, expected) in cases {
        let error = ask(prompt).unwrap_err();
        assert!(expected(&error), "{prompt}: {error:?}");
        assert_eq!(ask("fine").unwrap(), "ok", "after {prompt}");
    }
}

#[test]
fn a_429_is_retried_after_the_time_it_names_and_a_refused_key_is_shown_once() {
    let server = TestServer::start(|_, index| match index {
        0 => Reply::json(429, json!({"error": {"message": "slow down"}})).with_header("retry-after", "1"),
        _ => Reply::events([text_event("done")]),
    });
    let engine = remote(&server.url(), Api::Fim, 5_000);
    let started = Instant::now();
    assert_eq!(fill(&engine, Stop::Block).unwrap(), "done");
    assert_eq!(server.requests().len(), 2);
    assert!(started.elapsed() >= Duration::from_secs(1), "Retry-After honoured");

    // A Retry-After past the request's time ends it at once, with the 429.
    let server = TestServer::start(|_, _| {
        Reply::json(429, json!({"error": "later"})).with_header("retry-after", "60")
    });
    let engine = remote(&server.url(), Api::Fim, 5_000);
    let error = fill(&engine, Stop::Block).unwrap_err();
    assert!(matches!(error, RemoteError::Unavailable { status: 429, attempts: 1, .. }), "{error:?}");

    // A key the server refuses: one message naming the variable, not the key.
    std::env::set_var("DLLM_FAILURE_TEST_KEY", "sk-failure-test-secret");
    let server = TestServer::start(|_, _| Reply::json(401, json!({"error": "bad key"})));
    let mut settings = settings(&server.url(), Api::Fim, 5_000);
    settings.api_key_env = Some("DLLM_FAILURE_TEST_KEY".into());
    let engine = RemoteEngine::new(settings.clone(), Arc::default());
    for _ in 0..2 {
        let _ = fill(&engine, Stop::Block);
    }
    let mut fared = engine.status.lock().unwrap().clone();
    let message = fared.take_message().unwrap();
    assert!(message.contains("$DLLM_FAILURE_TEST_KEY") && !message.contains("secret"), "{message}");
    assert_eq!(fared.take_message(), None);
    // An unset variable is named too, before anything is sent.
    settings.api_key_env = Some("DLLM_FAILURE_TEST_UNSET".into());
    let engine = RemoteEngine::new(settings, Arc::default());
    let before = server.requests().len();
    assert_eq!(
        fill(&engine, Stop::Block).unwrap_err(),
        RemoteError::KeyMissing("DLLM_FAILURE_TEST_UNSET".into())
    );
    assert_eq!(server.requests().len(), before);
}

#[test]
fn cancelling_drops_the_stream_and_one_line_is_read_only_to_its_end() {
    let slow: Vec<String> = (0..200).map(|i| text_event(&format!("t{i} "))).collect();
    let server = TestServer::start(move |request, _| {
        match request.json()["prompt"].as_str().unwrap_or_default() {
            "line" => Reply::stream(
                vec![text_event("a + b"), text_event("\nmore"), text_event(" and more")],
                Duration::from_millis(200),
                false,
            ),
            _ => Reply::stream(slow.clone(), Duration::from_millis(20), false),
        }
    });
    let infiller = Infiller::Remote(remote(&server.url(), Api::Completions, 30_000));
    let rt = runtime();
    let cancel = CancelFlag::new();
    let flag = cancel.clone();
    rt.spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        flag.cancel();
    });
    let ask = Ask {
        request: InfillRequest::single("slow", 64, ""),
        replaced: vec![String::new()],
        sampler: SamplerOptions::default(),
        stop: Stop::Block,
    };
    let result = rt.block_on(infiller.infill(ask, &cancel, None));
    assert!(matches!(result, Err(EngineError::Cancelled)), "{:?}", result.map(|o| o.spans));
    // The server sees its stream closed long before its 4 s end.
    let waited = Instant::now();
    while server.dropped() == 0 && waited.elapsed() < Duration::from_secs(3) {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(server.dropped(), 1, "the request was dropped");

    let Infiller::Remote(engine) = &infiller else { unreachable!() };
    let line = rt.block_on(engine.fill("line", "", 16, Stop::Line, &SamplerOptions::default()));
    assert_eq!(line.unwrap(), "a + b\nmore");
    let request = server.requests().last().unwrap().json();
    assert_eq!(request["stop"], json!(["\n"]));
}

#[test]
fn holes_are_filled_left_to_right_each_request_seeing_the_ones_before() {
    let server = TestServer::start(|request, index| {
        // llama.cpp's /infill stream: `content` pieces, `stop: true` on the last.
        let answer = format!("v{index}");
        assert_eq!(request.path, "/v1/infill");
        Reply::stream(
            vec![
                json!({"content": answer, "stop": false}).to_string(),
                json!({"content": "", "stop": true}).to_string(),
            ],
            Duration::ZERO,
            false,
        )
    });
    let infiller = Infiller::Remote(remote(&server.url(), Api::LlamaInfill, 5_000));
    let ask = Ask {
        request: InfillRequest {
            segments: vec![
                Segment::Text("a = ".into()),
                Segment::Span { max_tokens: 8 },
                Segment::Text("\nb = ".into()),
                Segment::Span { max_tokens: 8 },
                Segment::Text("\n".into()),
            ],
            max_context_tokens: None,
            ties: vec![],
        },
        replaced: vec!["todo!()".into(), "pass".into()],
        sampler: SamplerOptions::default(),
        stop: Stop::Block,
    };
    let out = runtime()
        .block_on(infiller.infill(ask, &CancelFlag::new(), None))
        .unwrap();
    assert_eq!(out.spans, vec!["v0", "v1"]);
    let requests = server.requests();
    assert_eq!(requests[0].path, "/v1/infill");
    let (first, second) = (requests[0].json(), requests[1].json());
    assert_eq!((first["input_prefix"].as_str(), first["input_suffix"].as_str()), (Some("a = "), Some("\nb = pass\n")));
    assert_eq!((second["input_prefix"].as_str(), second["input_suffix"].as_str()), (Some("a = v0\nb = "), Some("\n")));
    assert_eq!(first["n_predict"], 8);
}
