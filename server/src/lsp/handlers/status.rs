//! `dllm.status`: the model's state and which backend serves requests, for the editors'
//! status items. A remote backend is ready until a request fails; then it shows the failure
//! until one succeeds.

use crate::infiller::Infiller;
use crate::lsp::backend::Backend;
use crate::lsp::command::{Status, StatusReport};
use crate::lsp::error::LspResult;

pub(crate) fn status(backend: &Backend) -> LspResult<StatusReport> {
    let config = backend.state().config.clone();
    let report = match backend.infiller(&config) {
        Infiller::Local(engine) => StatusReport {
            status: Status::new(engine.status(), engine.load_progress()),
            backend: "local",
            endpoint: None,
            api: None,
            last_latency_ms: None,
            last_error: None,
            suggestions: backend.state().gate.counts(),
            next_edit: config.next_edit,
        },
        Infiller::Remote(remote) => {
            let fared = backend
                .remote_status
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone();
            let endpoint = remote.shown_endpoint();
            let model = remote.settings().model.clone();
            let status = match &fared.last_error {
                Some(error) => Status::Failed {
                    error: error.clone(),
                },
                None => Status::Ready {
                    model: format!(
                        "{} at {}",
                        model.as_deref().unwrap_or("the remote engine"),
                        endpoint.as_deref().unwrap_or("no endpoint")
                    ),
                    resident_mb: None,
                    weights: None,
                },
            };
            StatusReport {
                status,
                backend: "remote",
                endpoint,
                api: Some(remote.settings().api.name().to_string()),
                last_latency_ms: fared.last_latency.map(|d| d.as_secs_f64() * 1e3),
                last_error: fared.last_error,
                suggestions: backend.state().gate.counts(),
            next_edit: config.next_edit,
            }
        }
    };
    Ok(report)
}
