//! How often real code trips the repetition guard (`dllm_ls::repetition`): the share of
//! 400-character windows of held-out files that `repetition_in` flags, the false-positive rate
//! the guard's rules were chosen by (README, "Answers that repeat themselves").
//!
//!     cargo run --release -p dllm-ls --example repetition_rate [-- /work/corpus/files/test.jsonl]

use std::collections::BTreeMap;
use std::io::BufRead;

use anyhow::{Context, Result};
use dllm_ls::repetition::repetition_in;

/// About the length of a multi-line answer (64 tokens of code).
const WINDOW_CHARS: usize = 400;

fn main() -> Result<()> {
    // Before any thread exists: candle's per-product core count is costly (see the function).
    dllm_models::pin_thread_count();
    let path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "/work/corpus/files/test.jsonl".into());
    let file = std::fs::File::open(&path).with_context(|| format!("open {path}"))?;
    let (mut windows, mut flagged) = (0usize, 0usize);
    let mut examples: BTreeMap<String, usize> = BTreeMap::new();
    for line in std::io::BufReader::new(file).lines() {
        let doc: serde_json::Value = serde_json::from_str(&line?)?;
        let text: Vec<char> = doc["text"].as_str().unwrap_or_default().chars().collect();
        for window in text.chunks(WINDOW_CHARS) {
            windows += 1;
            if let Some(why) = repetition_in(&window.iter().collect::<String>()) {
                flagged += 1;
                *examples.entry(why).or_default() += 1;
            }
        }
    }
    println!(
        "{flagged} of {windows} windows of {WINDOW_CHARS} characters flagged ({:.2}%)",
        100.0 * flagged as f64 / windows.max(1) as f64
    );
    for (why, n) in examples {
        println!("  {n} x {why}");
    }
    Ok(())
}
