//! The end of a server process, as the LSP spec describes it.
//!
//! It is decided at the transport, not in a handler, so nothing a handler waits on (a client
//! that never answers a server request, a model still loading) can keep the process alive:
//! - `exit` ends it at once: code 0 after `shutdown`, 1 without;
//! - closed input ends it after a short grace for answers already being computed;
//! - so does the death of the client process named in `initialize`'s `processId`, checked
//!   periodically (editors that crash leave no one to close the pipe).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::sync::watch;

/// How often the client process is looked for.
const CLIENT_CHECK_INTERVAL: Duration = Duration::from_secs(3);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ending {
    Exit,
    InputClosed,
    ClientGone,
}

/// What the transport does with a message after the lifecycle has seen it.
#[derive(Debug, PartialEq, Eq)]
pub enum Next {
    Forward,
    Stop,
}

pub struct Lifecycle {
    shutdown_requested: AtomicBool,
    ending: watch::Sender<Option<Ending>>,
}

impl Lifecycle {
    pub fn new() -> Arc<Self> {
        Arc::new(Lifecycle {
            shutdown_requested: AtomicBool::new(false),
            ending: watch::channel(None).0,
        })
    }

    /// Sees every well-formed message from the client before the server does.
    pub fn observe(self: &Arc<Self>, message: &Value) -> Next {
        let is_request = message.get("id").is_some();
        match message.get("method").and_then(Value::as_str) {
            Some("exit") if !is_request => {
                self.end(Ending::Exit);
                return Next::Stop;
            }
            Some("shutdown") if is_request => self.shutdown_requested.store(true, Ordering::SeqCst),
            Some("initialize") if is_request => {
                if let Some(pid) = message.pointer("/params/processId").and_then(Value::as_i64) {
                    self.watch_client(pid);
                }
            }
            _ => {}
        }
        Next::Forward
    }

    pub fn input_closed(&self) {
        self.end(Ending::InputClosed);
    }

    fn end(&self, ending: Ending) {
        // The first reason wins: `exit` followed by closed input is still an `exit`.
        self.ending.send_if_modified(|e| {
            let first = e.is_none();
            if first {
                *e = Some(ending);
            }
            first
        });
    }

    pub async fn ended(&self) -> Ending {
        let mut rx = self.ending.subscribe();
        let ending = match rx.wait_for(Option::is_some).await {
            Ok(e) => e.unwrap_or(Ending::InputClosed),
            Err(_) => Ending::InputClosed,
        };
        ending
    }

    /// The process's exit code for `ending`, as the spec gives it for `exit`.
    pub fn exit_code(&self, ending: Ending) -> i32 {
        match ending {
            Ending::Exit | Ending::InputClosed
                if self.shutdown_requested.load(Ordering::SeqCst) =>
            {
                0
            }
            _ => 1,
        }
    }

    fn watch_client(self: &Arc<Self>, pid: i64) {
        let Some(pid) = i32::try_from(pid).ok().filter(|&p| p > 0) else {
            tracing::warn!(
                "initialize named client process {pid}, which cannot exist; not watching it"
            );
            return;
        };
        if !process_alive(pid) {
            tracing::warn!(
                "initialize named client process {pid}, which is not running; not watching it"
            );
            return;
        }
        let lifecycle = Arc::downgrade(self);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(CLIENT_CHECK_INTERVAL).await;
                let Some(lifecycle) = lifecycle.upgrade() else {
                    return;
                };
                if !process_alive(pid) {
                    tracing::error!("the client process {pid} is gone; exiting");
                    lifecycle.end(Ending::ClientGone);
                    return;
                }
            }
        });
    }
}

#[cfg(unix)]
fn process_alive(pid: i32) -> bool {
    // Signal 0 checks existence and permission without sending anything; EPERM means the
    // process exists but belongs to someone else.
    // SAFETY: kill with signal 0 has no effect on any process.
    let r = unsafe { libc::kill(pid, 0) };
    r == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

#[cfg(not(unix))]
fn process_alive(_pid: i32) -> bool {
    // No portable check without another dependency: the client is assumed alive, and closed
    // input or `exit` still end the server.
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[tokio::test]
    async fn exit_codes_follow_the_spec() {
        let l = Lifecycle::new();
        assert_eq!(
            l.observe(&json!({"jsonrpc": "2.0", "method": "exit"})),
            Next::Stop
        );
        assert_eq!(l.ended().await, Ending::Exit);
        assert_eq!(l.exit_code(Ending::Exit), 1);

        let l = Lifecycle::new();
        let shutdown = json!({"jsonrpc": "2.0", "id": 1, "method": "shutdown"});
        assert_eq!(l.observe(&shutdown), Next::Forward);
        l.observe(&json!({"jsonrpc": "2.0", "method": "exit"}));
        l.input_closed();
        assert_eq!(l.ended().await, Ending::Exit);
        assert_eq!(l.exit_code(Ending::Exit), 0);
    }

    #[tokio::test]
    async fn closed_input_ends_the_server() {
        let l = Lifecycle::new();
        l.input_closed();
        assert_eq!(l.ended().await, Ending::InputClosed);
        assert_eq!(l.exit_code(Ending::InputClosed), 1);
    }

    #[test]
    fn this_process_is_alive_and_an_unused_pid_is_not() {
        assert!(process_alive(std::process::id() as i32));
        if cfg!(unix) {
            // Above the kernel's pid_max (4194304 at most).
            assert!(!process_alive(i32::MAX));
        }
    }
}
