//! The wire formats of the remote engines: which path each `api` posts to, the JSON it sends,
//! and where the answer's text sits in what comes back (a whole body or one streamed event).

use std::fmt;
use std::str::FromStr;

use serde_json::{json, Map, Value};

/// How a remote engine is spoken to (the `api` setting).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    /// `POST {endpoint}/fim/completions` `{prompt, suffix, …}` → `choices[0].text`: Inception
    /// (Mercury), Mistral.
    Fim,
    /// `POST {endpoint}/completions` with the same fields: OpenAI's legacy endpoint, Ollama's
    /// OpenAI route, DeepSeek's beta endpoint, LMDeploy, vLLM, llama.cpp's `/v1`.
    Completions,
    /// llama.cpp's `POST {endpoint}/infill` `{input_prefix, input_suffix, …}` → `content`.
    LlamaInfill,
    /// `POST {endpoint}/chat/completions`: infills asked as an instruction, for engines that
    /// only chat.
    Chat,
}

impl Api {
    pub const ALL: [Api; 4] = [Api::Fim, Api::Completions, Api::LlamaInfill, Api::Chat];

    pub const fn name(self) -> &'static str {
        match self {
            Api::Fim => "fim",
            Api::Completions => "completions",
            Api::LlamaInfill => "llama-infill",
            Api::Chat => "chat",
        }
    }
}

impl fmt::Display for Api {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Api {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Api::ALL
            .into_iter()
            .find(|a| a.name() == s)
            .ok_or_else(|| format!("unknown api {s:?}"))
    }
}

/// What one request asks for.
#[derive(Debug, Clone, Copy)]
pub enum Prompt<'a> {
    /// The text between `prefix` and `suffix`.
    Fill { prefix: &'a str, suffix: &'a str },
    /// A user message (an instructed rewrite): always a chat request.
    Instruction(&'a str),
}

/// The sampling fields every protocol sends.
#[derive(Debug, Clone)]
pub struct Params<'a> {
    pub model: Option<&'a str>,
    pub max_tokens: usize,
    pub temperature: f32,
    pub top_p: f32,
    pub stop: &'a [&'a str],
}

/// Which shape a request has on the wire: the answer is parsed by it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wire {
    /// `choices[0].text`, streamed the same way.
    Text,
    /// `choices[0].message.content`, streamed as `choices[0].delta.content`.
    Chat,
    /// llama.cpp's `content`, streamed with `stop: true` on the last event.
    Llama,
}

/// The path (relative to the endpoint), the wire shape and the JSON body of one request. Every
/// request asks for a stream.
pub fn request(api: Api, prompt: Prompt<'_>, params: &Params<'_>) -> (&'static str, Wire, Value) {
    let mut body = Map::new();
    if let Some(model) = params.model {
        body.insert("model".into(), model.into());
    }
    let (path, wire) = match (api, prompt) {
        (Api::Fim | Api::Completions, Prompt::Fill { prefix, suffix }) => {
            body.insert("prompt".into(), prefix.into());
            body.insert("suffix".into(), suffix.into());
            body.insert("max_tokens".into(), params.max_tokens.into());
            let path = match api {
                Api::Fim => "fim/completions",
                _ => "completions",
            };
            (path, Wire::Text)
        }
        (Api::LlamaInfill, Prompt::Fill { prefix, suffix }) => {
            body.insert("input_prefix".into(), prefix.into());
            body.insert("input_suffix".into(), suffix.into());
            body.insert("input_extra".into(), json!([]));
            body.insert("n_predict".into(), params.max_tokens.into());
            // The server keeps the prompt's KV cache for the next keystroke's request.
            body.insert("cache_prompt".into(), true.into());
            ("infill", Wire::Llama)
        }
        (Api::Chat, Prompt::Fill { prefix, suffix }) => {
            chat_fields(&mut body, &fill_instruction(prefix, suffix), params);
            ("chat/completions", Wire::Chat)
        }
        (_, Prompt::Instruction(message)) => {
            chat_fields(&mut body, message, params);
            ("chat/completions", Wire::Chat)
        }
    };
    body.insert("temperature".into(), params.temperature.into());
    body.insert("top_p".into(), params.top_p.into());
    body.insert("stop".into(), params.stop.into());
    body.insert("stream".into(), true.into());
    (path, wire, Value::Object(body))
}

fn chat_fields(body: &mut Map<String, Value>, message: &str, params: &Params<'_>) {
    body.insert(
        "messages".into(),
        json!([{"role": "user", "content": message}]),
    );
    body.insert("max_tokens".into(), params.max_tokens.into());
}

/// The marker a chat infill puts where the answer goes.
const HOLE: &str = "<|fill|>";

/// An infill asked of a chat model: the code with a marked hole, answered with the hole's code.
pub fn fill_instruction(prefix: &str, suffix: &str) -> String {
    format!(
        "Write the code that replaces {HOLE} in the code below. Answer with that code only, in one \
         fenced code block, without the code around it.\n```\n{prefix}{HOLE}{suffix}\n```"
    )
}

/// One piece of an answer: its text and whether the engine said it is the last.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Piece {
    pub text: String,
    pub last: bool,
}

/// The text of a whole (unstreamed) answer body.
pub fn whole_answer(wire: Wire, body: &Value) -> Result<String, String> {
    let text = match wire {
        Wire::Text => body.pointer("/choices/0/text"),
        Wire::Chat => body.pointer("/choices/0/message/content"),
        Wire::Llama => body.get("content"),
    };
    text.and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| format!("no answer text where {} puts it", wire.text_field()))
}

/// The text of one streamed event. An event with no choices (a usage summary) or a null text
/// adds nothing; an event that is not an object with the fields the wire shape has is an error.
pub fn streamed_piece(wire: Wire, event: &Value) -> Result<Piece, String> {
    if let Some(message) = error_message(event) {
        return Err(format!("the stream carried an error: {message}"));
    }
    let bad = || format!("an event without {}", wire.text_field());
    match wire {
        Wire::Text | Wire::Chat => {
            let choices = event.get("choices").and_then(Value::as_array).ok_or_else(bad)?;
            let Some(choice) = choices.first() else {
                return Ok(Piece::default());
            };
            let text = match wire {
                Wire::Text => choice.get("text"),
                _ => choice.pointer("/delta/content"),
            };
            let text = match text {
                None | Some(Value::Null) => String::new(),
                Some(Value::String(s)) => s.clone(),
                Some(_) => return Err(bad()),
            };
            Ok(Piece { text, last: false })
        }
        Wire::Llama => {
            let text = event.get("content").and_then(Value::as_str).ok_or_else(bad)?;
            let last = event.get("stop").and_then(Value::as_bool).unwrap_or(false);
            Ok(Piece {
                text: text.to_string(),
                last,
            })
        }
    }
}

impl Wire {
    fn text_field(self) -> &'static str {
        match self {
            Wire::Text => "choices[0].text",
            Wire::Chat => "choices[0].message.content (delta.content when streamed)",
            Wire::Llama => "content",
        }
    }
}

/// The message of an error body: OpenAI's and Inception's `{"error": {"message"}}`,
/// llama.cpp's `{"error": {"code", "message", "type"}}`, or `{"error": "…"}`, `{"detail": …}`.
pub fn error_message(body: &Value) -> Option<String> {
    let error = body.get("error").or_else(|| body.get("detail"))?;
    match error {
        Value::String(s) => Some(s.clone()),
        Value::Object(o) => o
            .get("message")
            .and_then(Value::as_str)
            .map(str::to_string)
            .or_else(|| Some(error.to_string())),
        other => Some(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PARAMS: Params<'static> = Params {
        model: Some("m"),
        max_tokens: 8,
        temperature: 0.0,
        top_p: 1.0,
        stop: &["\n"],
    };

    #[test]
    fn each_api_posts_its_own_fields_to_its_own_path() {
        let fill = Prompt::Fill {
            prefix: "a",
            suffix: "b",
        };
        let (path, wire, body) = request(Api::Fim, fill, &PARAMS);
        assert_eq!((path, wire), ("fim/completions", Wire::Text));
        assert_eq!(
            body,
            json!({"model": "m", "prompt": "a", "suffix": "b", "max_tokens": 8,
                   "temperature": 0.0, "top_p": 1.0, "stop": ["\n"], "stream": true})
        );
        let (path, _, same) = request(Api::Completions, fill, &PARAMS);
        assert_eq!((path, &same), ("completions", &body));
        let (path, wire, body) = request(Api::LlamaInfill, fill, &PARAMS);
        assert_eq!((path, wire), ("infill", Wire::Llama));
        assert_eq!(body["input_prefix"], "a");
        assert_eq!(body["input_suffix"], "b");
        assert_eq!(body["n_predict"], 8);
        assert!(body.get("prompt").is_none());
        let (path, wire, body) = request(Api::Chat, fill, &PARAMS);
        assert_eq!((path, wire), ("chat/completions", Wire::Chat));
        assert!(body["messages"][0]["content"]
            .as_str()
            .unwrap()
            .contains("a<|fill|>b"));
        // An instruction is a chat request whatever the infill api.
        let (path, _, body) = request(Api::Fim, Prompt::Instruction("do it"), &PARAMS);
        assert_eq!(path, "chat/completions");
        assert_eq!(body["messages"], json!([{"role": "user", "content": "do it"}]));
        let no_model = Params {
            model: None,
            ..PARAMS
        };
        assert!(request(Api::Fim, fill, &no_model).2.get("model").is_none());
    }

    #[test]
    fn answers_are_read_where_each_wire_puts_them() {
        let text = json!({"choices": [{"index": 0, "text": "x"}]});
        assert_eq!(whole_answer(Wire::Text, &text).unwrap(), "x");
        assert!(whole_answer(Wire::Chat, &text).is_err());
        let piece = streamed_piece(Wire::Chat, &json!({"choices": [{"delta": {"content": null}}]}));
        assert_eq!(piece.unwrap(), Piece::default());
        let usage = streamed_piece(Wire::Text, &json!({"choices": [], "usage": {}}));
        assert_eq!(usage.unwrap(), Piece::default());
        let llama = streamed_piece(Wire::Llama, &json!({"content": "y", "stop": true})).unwrap();
        assert_eq!((llama.text.as_str(), llama.last), ("y", true));
        assert!(streamed_piece(Wire::Text, &json!([1])).is_err());
        assert!(streamed_piece(Wire::Text, &json!({"choices": [{"text": 3}]})).is_err());
        let err = streamed_piece(Wire::Text, &json!({"error": {"message": "boom"}}));
        assert!(err.unwrap_err().contains("boom"));
        assert_eq!(error_message(&json!({"error": "x"})).as_deref(), Some("x"));
        assert_eq!(error_message(&json!({"ok": 1})), None);
        assert_eq!("llama-infill".parse::<Api>(), Ok(Api::LlamaInfill));
        assert!("nope".parse::<Api>().is_err());
    }
}
