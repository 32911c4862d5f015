//! Embeds the project's default model (`models/default/`) into the binary when that directory
//! holds one, so `dllm-ls` works after a plain install with no model path given.

use std::path::PathBuf;

const REQUIRED: &[&str] = &["config.json", "model.safetensors", "tokenizer.json"];
const OPTIONAL: &[&str] = &["tokenizer_config.json", "generation_config.json"];

fn main() {
    let dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap()).join("../models/default");
    // A path that does not exist would make cargo rerun this every build: watch `models/`
    // (its time changes when `default/` appears) until the directory is there.
    if dir.is_dir() {
        println!("cargo:rerun-if-changed={}", dir.display());
        for f in REQUIRED
            .iter()
            .chain(OPTIONAL)
            .filter(|f| dir.join(f).exists())
        {
            println!("cargo:rerun-if-changed={}", dir.join(f).display());
        }
    } else {
        println!("cargo:rerun-if-changed={}", dir.parent().unwrap().display());
    }
    let present = REQUIRED.iter().all(|f| dir.join(f).is_file());
    let mut code = String::from("/// Files of the embedded default model (empty when none was built in).\npub const FILES: &[(&str, &[u8])] = &[\n");
    if present {
        for f in REQUIRED
            .iter()
            .chain(OPTIONAL)
            .filter(|f| dir.join(f).is_file())
        {
            let path = dir.join(f).canonicalize().unwrap();
            code.push_str(&format!(
                "    ({f:?}, include_bytes!({:?})),\n",
                path.display().to_string()
            ));
        }
    }
    code.push_str("];\n");
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap()).join("default_model.rs");
    std::fs::write(out, code).unwrap();
}
