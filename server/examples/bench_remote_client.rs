//! What the remote client adds to each request: building the request's JSON, and parsing a
//! streamed answer (server-sent events, each a JSON chunk), measured alone; then whole
//! requests against a loopback server that answers at once, so what is left is the client
//! and the loopback HTTP. `cargo run --release -p dllm-ls --features testing --example
//! bench_remote_client`; figures in docs/benchmarks.md.

use std::time::{Duration, Instant};

use dllm_ls::infiller::Stop;
use dllm_ls::remote::protocol::{self, Api, Params, Prompt, Wire};
use dllm_ls::remote::sse::SseParser;
use dllm_ls::remote::test_server::{Reply, TestServer};
use dllm_ls::remote::{RemoteEngine, RemoteSettings};
use dllm_models::SamplerOptions;

fn per_call(runs: u32, mut f: impl FnMut()) -> Duration {
    let started = Instant::now();
    for _ in 0..runs {
        f();
    }
    started.elapsed() / runs
}

fn main() {
    // A request with 8 KiB of context on each side, as the default contextTokens gives.
    let prefix = "    total = total + values[index] * weights[index]\n".repeat(160);
    let suffix = "    return total / len(values)\n".repeat(280);
    let params = Params { model: Some("mercury-edit-2"), max_tokens: 64, temperature: 0.0, top_p: 1.0, stop: &["\n"] };
    let build = per_call(2_000, || {
        let (_, _, body) = protocol::request(Api::Fim, Prompt::Fill { prefix: &prefix, suffix: &suffix }, &params);
        std::hint::black_box(serde_json::to_vec(&body).unwrap());
    });
    // A 64-token answer streamed one token an event, as servers stream.
    let events: Vec<String> = (0..64)
        .map(|i| serde_json::json!({"id": "cmpl-1", "object": "text_completion", "created": 1, "model": "m",
                                    "choices": [{"index": 0, "text": format!("tok{i} "), "finish_reason": null}]}).to_string())
        .collect();
    let stream: String = events.iter().map(|e| format!("data: {e}\n\n")).collect::<String>() + "data: [DONE]\n\n";
    let parse = per_call(2_000, || {
        let mut parser = SseParser::default();
        let mut text = String::new();
        for chunk in stream.as_bytes().chunks(1400) {
            for event in parser.feed(chunk) {
                if event == "[DONE]" { break; }
                let value: serde_json::Value = serde_json::from_str(&event).unwrap();
                text.push_str(&protocol::streamed_piece(Wire::Text, &value).unwrap().text);
            }
        }
        std::hint::black_box(text);
    });
    let server = TestServer::start(move |_, _| Reply::events(events.clone()));
    let engine = RemoteEngine::new(
        RemoteSettings { endpoint: Some(server.url()), api: Api::Fim, model: Some("m".into()), api_key_env: None, timeout: Duration::from_secs(10) },
        Default::default(),
    );
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let sampler = SamplerOptions::default();
    let mut rounds: Vec<Duration> = (0..200)
        .map(|_| {
            let started = Instant::now();
            rt.block_on(engine.fill(&prefix, &suffix, 64, Stop::Block, &sampler)).unwrap();
            started.elapsed()
        })
        .collect();
    rounds.sort();
    println!("| part | time |");
    println!("|---|---|");
    println!("| build the request (16 KiB of context, JSON bytes) | {:.1} µs |", build.as_secs_f64() * 1e6);
    println!("| parse a 64-event SSE answer | {:.1} µs |", parse.as_secs_f64() * 1e6);
    println!("| whole request to a loopback server that answers at once, p50 / p95 | {:.2} / {:.2} ms |",
             rounds[100].as_secs_f64() * 1e3, rounds[190].as_secs_f64() * 1e3);
}
