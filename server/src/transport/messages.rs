//! Which JSON-RPC messages may pass to tower-lsp-server, and the answer to those that may not.
//!
//! tower-lsp-server decodes its input with tokio-util's `FramedRead`, which ends the stream on
//! the first message it cannot decode: one bad id would stop the server. So a message passes only
//! if it decodes as tower-lsp-server's own `Request` or `Response` type; everything else is
//! answered here. A request is checked field by field (version, method, params, id: all its
//! type decodes), so its params, which may be a whole document, are not copied to decode it
//! again; `server/tests/fuzz_transport.rs` checks the two agree on arbitrary JSON.

use serde::Deserialize;
use serde_json::{json, Value};
use tower_lsp_server::jsonrpc::Response;

/// What to do with one incoming body.
#[derive(Debug, PartialEq)]
pub enum Verdict {
    /// Hand it to the server unchanged.
    Pass(Value),
    /// Send this error back and drop the message.
    Answer(Value),
    /// Drop it with a log line (a malformed *response* gets no answer in JSON-RPC).
    Drop(String),
}

pub const PARSE_ERROR: i64 = -32700;
pub const INVALID_REQUEST: i64 = -32600;
pub const METHOD_NOT_FOUND: i64 = -32601;

pub fn error_response(id: Value, code: i64, message: &str) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message}})
}

pub fn judge(body: &[u8]) -> Verdict {
    let value: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) => {
            return Verdict::Answer(error_response(
                Value::Null,
                PARSE_ERROR,
                &format!("Parse error: {e}"),
            ))
        }
    };
    let invalid = |why: &str| {
        Verdict::Answer(error_response(
            echoable_id(&value),
            INVALID_REQUEST,
            &format!("Invalid request: {why}"),
        ))
    };
    if value.get("jsonrpc") != Some(&json!("2.0")) {
        return invalid("not a JSON-RPC 2.0 message");
    }
    match value.get("method") {
        Some(Value::String(method)) => {
            let params_ok = value
                .get("params")
                .is_none_or(|p| p.is_object() || p.is_array() || p.is_null());
            if !params_ok {
                return invalid("params must be an object or an array");
            }
            if value.get("id").is_some_and(|id| !valid_id(id)) {
                return invalid("an id must be an integer or a string");
            }
            if method.starts_with("$/") && value.get("id").is_some() {
                // `$/` messages are optional notifications; a request for one must still be
                // answered, and tower-lsp-server would stay silent.
                return Verdict::Answer(error_response(
                    echoable_id(&value),
                    METHOD_NOT_FOUND,
                    &format!("Method not found: {method}"),
                ));
            }
            Verdict::Pass(value)
        }
        Some(_) => invalid("method must be a string"),
        // Borrowed, not cloned: a response's result may be large.
        None if is_response(&value) => match Response::deserialize(&value) {
            Ok(_) if value.get("id").is_some_and(valid_id) => Verdict::Pass(value),
            _ => Verdict::Drop("a malformed response".into()),
        },
        None => invalid("neither a request, a notification nor a response"),
    }
}

fn is_response(value: &Value) -> bool {
    value.get("id").is_some() && (value.get("result").is_some() || value.get("error").is_some())
}

/// tower-lsp-server's ids: an i64, a string, or null.
fn valid_id(id: &Value) -> bool {
    id.is_i64() || id.is_string() || id.is_null()
}

/// The id to put in an error answer: the message's own if it is a valid one, else null.
fn echoable_id(value: &Value) -> Value {
    value
        .get("id")
        .filter(|id| valid_id(id))
        .cloned()
        .unwrap_or(Value::Null)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(body: &str) -> (Value, i64) {
        match judge(body.as_bytes()) {
            Verdict::Answer(a) => (a["id"].clone(), a["error"]["code"].as_i64().unwrap()),
            other => panic!("{body}: {other:?}"),
        }
    }

    #[test]
    fn well_formed_messages_pass() {
        for body in [
            r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{}}"#,
            r#"{"jsonrpc":"2.0","id":"a","method":"shutdown"}"#,
            r#"{"jsonrpc":"2.0","method":"$/cancelRequest","params":{"id":1}}"#,
            r#"{"jsonrpc":"2.0","id":1,"result":null}"#,
            r#"{"jsonrpc":"2.0","id":1,"error":{"code":-1,"message":"no"}}"#,
        ] {
            assert!(matches!(judge(body.as_bytes()), Verdict::Pass(_)), "{body}");
        }
    }

    #[test]
    fn ids_that_are_not_integers_or_strings_are_invalid_requests_with_a_null_id() {
        for id in ["1.5", r#"{"a":1}"#, "[1]", "18446744073709551616", "true"] {
            let body = format!(
                r#"{{"jsonrpc":"2.0","id":{id},"method":"workspace/executeCommand","params":{{"command":"dllm.status"}}}}"#
            );
            assert_eq!(code(&body), (Value::Null, INVALID_REQUEST), "{id}");
        }
    }

    #[test]
    fn parse_errors_and_invalid_requests_are_told_apart() {
        assert_eq!(code("{ nope"), (Value::Null, PARSE_ERROR));
        assert_eq!(
            code(r#"{"jsonrpc":"2.0","id":7}"#),
            (json!(7), INVALID_REQUEST)
        );
        assert_eq!(code("[1,2]"), (Value::Null, INVALID_REQUEST));
        assert_eq!(
            code(r#"{"jsonrpc":"2.0","method":"x","params":3}"#).1,
            INVALID_REQUEST
        );
        assert_eq!(
            code(r#"{"jsonrpc":"1.0","id":2,"method":"x"}"#),
            (json!(2), INVALID_REQUEST)
        );
        assert_eq!(
            code(r#"{"jsonrpc":"2.0","id":2,"method":7}"#),
            (json!(2), INVALID_REQUEST)
        );
    }

    #[test]
    fn dollar_requests_are_answered_method_not_found() {
        assert_eq!(
            code(r#"{"jsonrpc":"2.0","id":3,"method":"$/fooBar"}"#),
            (json!(3), METHOD_NOT_FOUND)
        );
    }

    #[test]
    fn malformed_responses_are_dropped_not_answered() {
        for body in [
            r#"{"jsonrpc":"2.0","id":1.5,"result":null}"#,
            r#"{"jsonrpc":"2.0","id":1,"error":5}"#,
        ] {
            assert!(matches!(judge(body.as_bytes()), Verdict::Drop(_)), "{body}");
        }
    }
}
