//! Property tests of the transport guard: arbitrary bytes and damaged frames in front of
//! well-formed messages. Each case runs the real guard; `PROPTEST_CASES` raises the count (see
//! `scripts/fuzz.sh`).

use std::io::Cursor;

use dllm_ls::lifecycle::Lifecycle;
use dllm_ls::transport::frames::{frame, Frame, FrameReader};
use dllm_ls::transport::guard;
use dllm_ls::transport::messages::{judge, Verdict};
use proptest::prelude::*;
use serde_json::{json, Value};
use tokio::io::AsyncReadExt;

/// What the guard passes to the server and what it answers the client, for `input`.
fn through_guard(input: Vec<u8>) -> (Vec<Vec<u8>>, Vec<Value>) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let (client_out, mut client_in) = tokio::io::duplex(64 << 10);
        let guarded = guard(Cursor::new(input), client_out, Lifecycle::new());
        let answers = tokio::spawn(async move {
            let mut bytes = vec![];
            client_in.read_to_end(&mut bytes).await.unwrap();
            bytes
        });
        let mut passed = vec![];
        let mut server = FrameReader::new(guarded.input);
        while let Some(frame) = server.next().await.unwrap() {
            match frame {
                Frame::Message(body) => passed.push(body),
                Frame::Skipped(why) => panic!("the guard sent the server a bad frame: {why}"),
            }
        }
        drop(guarded.output);
        guarded.writer.await.unwrap();
        let bytes = answers.await.unwrap();
        let mut replies = vec![];
        let mut reader = FrameReader::new(&bytes[..]);
        while let Some(frame) = reader.next().await.unwrap() {
            let Frame::Message(body) = frame else {
                panic!("a bad frame to the client")
            };
            replies.push(serde_json::from_slice(&body).expect("answers are JSON"));
        }
        (passed, replies)
    })
}

fn contains_content_length(bytes: &[u8]) -> bool {
    bytes
        .windows(14)
        .any(|w| w.eq_ignore_ascii_case(b"content-length"))
}

fn garbage() -> impl Strategy<Value = Vec<u8>> {
    let raw = prop::collection::vec(any::<u8>(), 0..600);
    let texty = "[ -~\r\n]{0,300}".prop_map(String::into_bytes);
    let headerish = prop::collection::vec(
        prop_oneof![
            "[A-Za-z-]{1,12}: [ -~]{0,20}\r\n",
            "\r\n",
            "[A-Za-z-]{1,12}\n"
        ],
        0..6,
    )
    .prop_map(|lines| lines.concat().into_bytes());
    prop_oneof![raw, texty, headerish]
        .prop_filter("no Content-Length", |b| !contains_content_length(b))
}

/// Damage placed in front of good frames: garbage, or a frame with a broken header or length.
fn damage() -> impl Strategy<Value = Vec<u8>> {
    let bad_header = (
        prop_oneof![
            Just("Content-Type: x".to_string()),
            Just("Content-Length: -1".to_string()),
            Just("Content-Length: abc".to_string()),
            Just("Content-Length: 18446744073709551616".to_string()),
            Just("Content-Length: 99999999999999".to_string()),
            Just("Content-Length: 5\r\nContent-Length: 6".to_string()),
        ],
        garbage(),
    )
        .prop_map(|(h, body)| [format!("{h}\r\n\r\n").into_bytes(), body].concat());
    let short = (garbage(), 0usize..50).prop_map(|(body, cut)| {
        let n = body.len().saturating_sub(cut);
        [format!("Content-Length: {n}\r\n\r\n").into_bytes(), body].concat()
    });
    prop_oneof![garbage(), bad_header, short]
}

fn message() -> impl Strategy<Value = Vec<u8>> {
    (0i64..1000, "[a-zA-Z/$]{1,20}", prop::option::of("[ -~]{0,40}")).prop_map(|(id, method, text)| {
        let params = json!({"text": text});
        json!({"jsonrpc": "2.0", "id": id, "method": method.trim_start_matches("$/"), "params": params})
            .to_string()
            .into_bytes()
    })
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        "[ -~]{0,12}".prop_map(Value::from),
        Just(json!("2.0")),
        Just(json!("initialize")),
        Just(json!("exit")),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(
                prop_oneof![
                    Just("jsonrpc".to_string()),
                    Just("id".to_string()),
                    Just("method".to_string()),
                    Just("params".to_string()),
                    Just("result".to_string()),
                    Just("error".to_string()),
                    "[a-z]{1,6}"
                ],
                inner,
                0..5
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_pass_a_bad_message(input in prop::collection::vec(any::<u8>(), 0..4096)) {
        let (passed, replies) = through_guard(input);
        for body in passed {
            prop_assert!(matches!(judge(&body), Verdict::Pass(_)));
        }
        for r in replies {
            prop_assert!(r["error"]["code"].is_i64(), "{r}");
        }
    }

    #[test]
    fn damage_costs_at_most_the_first_message_after_it(
        damage in damage(),
        messages in prop::collection::vec(message(), 1..5),
    ) {
        let mut input = damage;
        input.extend_from_slice(b"\r\n");
        for m in &messages {
            input.extend(frame(m));
        }
        let (passed, _) = through_guard(input);
        let lost = messages.len() - passed.len().min(messages.len());
        prop_assert!(lost <= 1, "lost {lost} of {}", messages.len());
        prop_assert_eq!(&passed[..], &messages[lost..]);
    }

    #[test]
    fn a_length_that_swallows_the_next_messages_gives_them_back(
        body in garbage(),
        messages in prop::collection::vec(message(), 1..4),
        extra in 1usize..200,
    ) {
        let following: usize = messages.iter().map(|m| frame(m).len()).sum();
        let claimed = body.len() + extra.min(following);
        let mut input = format!("Content-Length: {claimed}\r\n\r\n").into_bytes();
        input.extend(body);
        for m in &messages {
            input.extend(frame(m));
        }
        let (passed, _) = through_guard(input);
        prop_assert_eq!(&passed[..], &messages[..]);
    }

    #[test]
    fn any_json_is_passed_only_if_the_server_can_decode_it(value in json_value()) {
        let body = value.to_string().into_bytes();
        match judge(&body) {
            Verdict::Pass(v) => {
                let request = serde_json::from_value::<tower_lsp_server::jsonrpc::Request>(v.clone());
                let response = serde_json::from_value::<tower_lsp_server::jsonrpc::Response>(v.clone());
                prop_assert!(request.is_ok() || response.is_ok(), "{v}");
            }
            Verdict::Answer(a) => prop_assert!(a["error"]["code"].is_i64()),
            Verdict::Drop(_) => {}
        }
    }
}
