//! Inception's next edit, replayed on a loopback server: the documented exchanges
//! ([`super::edit_fixtures`], each naming its source) must send the documented request and
//! become the expected proposal; answers without a usable region, a 404, a timeout and an api
//! without the endpoint must end in no proposal with a typed error, and nothing panics.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use dllm_models::{CancelFlag, SamplerOptions};
use serde_json::json;

use super::edit_fixtures::{documented_edit_cases, edit_completion, EditCase, MODEL};
use super::test_server::{Body, Reply, TestServer};
use super::*;
use crate::config::Config;
use crate::engine::EngineError;
use crate::infiller::{Infiller, Stop};
use crate::next_edit::{self, Proposal};
use crate::pipeline::PipelineError;

const KEY_VAR: &str = "DLLM_EDIT_TEST_KEY";
const KEY: &str = "sk-edit-test-0123456789";

fn engine(server: &TestServer, api: Api, timeout: Duration) -> RemoteEngine {
    std::env::set_var(KEY_VAR, KEY);
    RemoteEngine::new(
        RemoteSettings {
            endpoint: Some(server.url()),
            api,
            model: Some(MODEL.into()),
            api_key_env: Some(KEY_VAR.into()),
            timeout,
        },
        Arc::new(Mutex::new(RemoteStatus::default())),
    )
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn suggest(remote: &RemoteEngine, case: &EditCase) -> Result<Option<Proposal>, PipelineError> {
    let infiller = Infiller::Remote(remote.clone());
    let (ctx, config) = (case.context(), Config::default());
    runtime().block_on(next_edit::suggest(
        &infiller,
        &ctx,
        &config,
        &CancelFlag::new(),
    ))
}

/// The remote error a suggestion ended in.
fn remote_error(result: Result<Option<Proposal>, PipelineError>) -> RemoteError {
    match result {
        Err(PipelineError::Engine(EngineError::Remote(e))) => e,
        other => panic!("expected a remote error, got {other:?}"),
    }
}

fn case(name: &str) -> EditCase {
    documented_edit_cases()
        .into_iter()
        .find(|c| c.name == name)
        .unwrap()
}

#[test]
fn documented_exchanges_send_the_documented_request_and_become_the_expected_proposal() {
    for case in documented_edit_cases() {
        let reply = case.reply();
        let server = TestServer::start(move |_, _| reply.clone());
        let remote = engine(&server, Api::Fim, Duration::from_secs(10));
        let got = suggest(&remote, &case).unwrap();
        assert_eq!(got, case.expected, "{}", case.name);
        let requests = server.requests();
        assert_eq!(requests.len(), 1, "{}", case.name);
        let request = &requests[0];
        assert_eq!(
            (request.method.as_str(), request.path.as_str()),
            ("POST", "/v1/edit/completions")
        );
        assert_eq!(
            request.header("authorization"),
            Some(format!("Bearer {KEY}").as_str())
        );
        let body = request.json();
        assert_eq!(body["model"], MODEL);
        let messages = body["messages"].as_array().unwrap();
        assert_eq!(messages.len(), 1, "exactly one message");
        assert_eq!(messages[0]["role"], "user");
        let content = messages[0]["content"].as_str().unwrap();
        if let Some(message) = &case.message {
            assert_eq!(content, message, "{}", case.name);
        }
        for tag in [
            "recently_viewed_code_snippets",
            "current_file_content",
            "code_to_edit",
        ] {
            assert!(content.contains(&format!("<|{tag}|>\n")), "{tag}");
        }
        assert!(content.ends_with("<|/edit_diff_history|>"));
        assert_eq!(content.matches(edit::CURSOR).count(), 1);
        // The endpoint does not stream: the request must not ask for it.
        assert!(body.get("stream").is_none() && body.get("stop").is_none());
        assert!((1..=8192).contains(&body["max_tokens"].as_u64().unwrap()));
        let fared = remote.status.lock().unwrap().clone();
        assert!(fared.last_latency.is_some() && fared.last_error.is_none());
    }
}

#[test]
fn answers_without_a_usable_region_are_no_proposal() {
    let greet = case("capabilities-add");
    let unchanged = format!("```\n{}\n```", greet.text);
    let garbage = Reply {
        status: 200,
        headers: vec![("content-type".into(), "application/json".into())],
        body: Body::Whole("<html>upstream error</html>".into()),
    };
    let replies = [
        // Prose, no code block: it would rewrite the whole region into words.
        Reply::json(200, edit_completion("I would change the subtraction into an addition, as the name says.\nThen the tests pass.\nAnd the docs match.\nNothing else.\nDone.\nReally.")),
        Reply::json(200, edit_completion(&unchanged)),
        Reply::json(200, edit_completion("None")),
        Reply::json(200, edit_completion("```python\ndef add(a, b):\n    return a +")),
        Reply::json(200, json!({"object": "edit.completion", "choices": []})),
        garbage,
    ];
    for (i, reply) in replies.into_iter().enumerate() {
        let server = TestServer::start(move |_, _| reply.clone());
        let remote = engine(&server, Api::Fim, Duration::from_secs(10));
        let result = suggest(&remote, &greet);
        match i {
            0..=2 => assert!(matches!(result, Ok(None)), "{i}: {result:?}"),
            3 => assert!(
                matches!(remote_error(result), RemoteError::NoRegion { detail, .. } if detail.contains("closing fence")),
                "{i}"
            ),
            _ => assert!(
                matches!(remote_error(result), RemoteError::BadBody { .. }),
                "{i}"
            ),
        }
    }
}

#[test]
fn a_fim_server_without_next_edit_answers_404_once_and_inline_status_stays_clean() {
    let server = TestServer::start(|request, _| match request.path.as_str() {
        "/v1/fim/completions" => Reply::json(
            200,
            json!({"object": "text_completion", "choices": [{"index": 0, "text": "1"}]}),
        ),
        _ => Reply::json(404, json!({"detail": "Not Found"})),
    });
    let remote = engine(&server, Api::Fim, Duration::from_secs(10));
    let sampler = SamplerOptions::default();
    let fill = remote.fill("x = ", "\n", 8, Stop::Line, &sampler);
    assert_eq!(runtime().block_on(fill).unwrap(), "1");
    let add = case("capabilities-add");
    let error = remote_error(suggest(&remote, &add));
    assert!(
        matches!(&error, RemoteError::NoEditEndpoint { url, .. } if url.ends_with("/v1/edit/completions")),
        "{error:?}"
    );
    assert!(error.to_string().contains("404"), "{error}");
    let fared = remote.status.lock().unwrap().clone();
    assert_eq!(
        fared.last_error, None,
        "inline completion's status is untouched"
    );
    assert!(fared.last_latency.is_some());
    // Not asked again of the same endpoint and model; asked again once the model changes.
    let again = remote_error(suggest(&remote, &add));
    assert!(matches!(again, RemoteError::NoEditEndpoint { .. }));
    assert_eq!(server.requests().len(), 2);
    let mut settings = remote.settings().clone();
    settings.model = Some("mercury-edit".into());
    let other = RemoteEngine::new(settings, remote.status.clone());
    let _ = suggest(&other, &add);
    assert_eq!(server.requests().len(), 3);
}

#[test]
fn a_timeout_is_an_error_in_the_status_and_other_apis_are_not_asked() {
    let server = TestServer::start(|_, _| Reply {
        status: 200,
        headers: vec![],
        body: Body::Silence(Duration::from_secs(5)),
    });
    let remote = engine(&server, Api::Fim, Duration::from_millis(300));
    let error = remote_error(suggest(&remote, &case("capabilities-add")));
    assert!(matches!(error, RemoteError::Timeout { .. }), "{error:?}");
    let fared = remote.status.lock().unwrap().clone();
    assert_eq!(fared.last_error, Some(error.to_string()));
    assert!(!error.to_string().contains(KEY));

    for api in [Api::Completions, Api::LlamaInfill, Api::Chat] {
        let before = server.requests().len();
        let remote = engine(&server, api, Duration::from_secs(10));
        let error = remote_error(suggest(&remote, &case("capabilities-add")));
        assert_eq!(error, RemoteError::NoNextEdit(api.to_string()));
        assert!(error.to_string().contains("api: fim"), "{error}");
        assert_eq!(server.requests().len(), before, "no request for {api}");
        assert_eq!(remote.status.lock().unwrap().last_error, None);
    }
}

#[test]
fn a_cancelled_request_ends_at_once() {
    let server = TestServer::start(|_, _| Reply {
        status: 200,
        headers: vec![],
        body: Body::Silence(Duration::from_secs(5)),
    });
    let remote = engine(&server, Api::Fim, Duration::from_secs(30));
    let infiller = Infiller::Remote(remote);
    let add = case("capabilities-add");
    let (ctx, config, cancel) = (add.context(), Config::default(), CancelFlag::new());
    let rt = runtime();
    let flag = cancel.clone();
    rt.spawn(async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        flag.cancel();
    });
    let started = std::time::Instant::now();
    let result = rt.block_on(next_edit::suggest(&infiller, &ctx, &config, &cancel));
    assert!(
        matches!(result, Err(PipelineError::Engine(EngineError::Cancelled))),
        "{result:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(3));
}
