//! Writes a checkpoint that predicts one token everywhere (see `dllm_ls::testing`), for the
//! editor integrations' tests:
//!
//!     cargo run -p dllm-ls --example constant_model -- OUT_DIR [TOKEN]   (TOKEN defaults to "a")

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let Some(out) = args.get(1) else {
        anyhow::bail!("usage: constant_model OUT_DIR [TOKEN]");
    };
    let token = args.get(2).map_or("a", String::as_str);
    dllm_ls::testing::write_constant_model(
        &dllm_ls::testing::fixture_dir(),
        out.as_ref(),
        token,
        4096,
        None,
    )?;
    println!("{out}");
    Ok(())
}
