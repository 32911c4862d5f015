//! The remote engine on its contract fixtures only: Inception's documented `/edit/completions`
//! exchanges (`dllm_ls::remote::edit_fixtures`), each replayed through a loopback
//! `TestServer` and `next_edit::suggest`, the proposal graded against the fixture's expected
//! one (equal range and text). No real engine is reached, so the latency is the client's and
//! the loopback's, not a model's.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Result;
use dllm_ls::config::Config;
use dllm_ls::infiller::Infiller;
use dllm_ls::next_edit;
use dllm_ls::remote::edit_fixtures::{documented_edit_cases, MODEL};
use dllm_ls::remote::test_server::TestServer;
use dllm_ls::remote::{Api, RemoteEngine, RemoteSettings};
use dllm_models::CancelFlag;

use super::grade::Outcome;

/// One fixture's outcome.
pub struct Replayed {
    pub name: &'static str,
    pub outcome: Outcome,
    pub took: Duration,
}

/// Every documented exchange, replayed once.
pub fn replay(runtime: &tokio::runtime::Runtime) -> Result<Vec<Replayed>> {
    let mut out = Vec::new();
    for case in documented_edit_cases() {
        let reply = case.reply();
        let server = TestServer::start(move |_, _| reply.clone());
        let settings = RemoteSettings {
            endpoint: Some(server.url()),
            api: Api::Fim,
            model: Some(MODEL.into()),
            api_key_env: None,
            timeout: Duration::from_secs(10),
        };
        let infiller = Infiller::Remote(RemoteEngine::new(settings, Arc::default()));
        let ctx = case.context();
        let started = Instant::now();
        let got = runtime.block_on(next_edit::suggest(
            &infiller,
            &ctx,
            &Config::default(),
            &CancelFlag::new(),
        ))?;
        let took = started.elapsed();
        let same = |a: &next_edit::Proposal, b: &next_edit::Proposal| {
            a.range == b.range && a.text == b.text
        };
        let outcome = match (&got, &case.expected) {
            (None, None) => Outcome::Quiet,
            (None, Some(_)) => Outcome::Missed,
            (Some(g), Some(e)) if same(g, e) => Outcome::Right,
            (Some(_), _) => Outcome::Wrong,
        };
        out.push(Replayed {
            name: case.name,
            outcome,
            took,
        });
    }
    Ok(out)
}
