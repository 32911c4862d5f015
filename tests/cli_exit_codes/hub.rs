//! `dllm-ls pull` and `dllm-ls models` against a Hugging Face hub on loopback (the models crate's
//! `fake_hub`), through `HF_ENDPOINT` and `HF_HOME` as a user sets them; then a model command
//! loads the pulled id from the cache with `HF_HUB_OFFLINE=1`.

use std::process::{Command, Stdio};

use super::common::constant_model;
use super::{Output, EXIT_MODEL, RUST};

#[path = "../../models/tests/common/fake_hub.rs"]
mod fake_hub;

use fake_hub::{FakeHub, Repo};

const COMMIT: &str = "89abcdef0123456789abcdef0123456789abcdef";

/// Runs `dllm-ls ARGS` with the hub variables `env`, stdin and stderr not terminals.
fn run_hub(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_dllm-ls-e2e"));
    for var in [
        "HF_ENDPOINT",
        "HF_HOME",
        "HF_HUB_CACHE",
        "HF_HUB_OFFLINE",
        "HF_TOKEN",
        "DLLM_LOG",
    ] {
        command.env_remove(var);
    }
    let out = command
        .args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .output()
        .expect("dllm-ls runs");
    Output {
        code: out.status.code().expect("an exit code, not a signal"),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

#[test]
fn pull_fills_the_cache_that_models_lists_and_model_commands_load_offline() {
    let checkpoint = constant_model("a", 256);
    let hub = FakeHub::start();
    hub.add("org/constant", Repo::from_dir(checkpoint.path(), COMMIT));
    let home = tempfile::tempdir().unwrap();
    let home_path = home.path().to_str().unwrap();
    let online = [
        ("HF_ENDPOINT", hub.endpoint.as_str()),
        ("HF_HOME", home_path),
    ];

    let empty = run_hub(&["models"], &online);
    assert_eq!(empty.code, 0, "{}", empty.stderr);
    assert!(empty.stdout.is_empty(), "{:?}", empty.stdout);

    let pulled = run_hub(&["pull", "org/constant"], &online);
    assert_eq!(pulled.code, 0, "{}", pulled.stderr);
    // Not a terminal: no progress bar, only the snapshot's directory.
    assert!(pulled.stderr.is_empty(), "{:?}", pulled.stderr);
    let snapshot = home
        .path()
        .join("hub/models--org--constant/snapshots")
        .join(COMMIT);
    assert_eq!(pulled.stdout.trim_end(), snapshot.to_str().unwrap());

    let listed = run_hub(&["models"], &online);
    assert_eq!(listed.code, 0, "{}", listed.stderr);
    let row = listed
        .stdout
        .lines()
        .find(|l| l.starts_with("org/constant "))
        .unwrap_or_else(|| panic!("{:?}", listed.stdout));
    for field in ["main", &COMMIT[..12], "Dream"] {
        assert!(row.contains(field), "{field} not in {row:?}");
    }
    // Beside the size on disk, the weights' expected size in memory at f32, q8 and q4, as the
    // models crate works it out from the headers (its unit test checks that against loads).
    let header = listed.stdout.lines().next().unwrap();
    for column in ["SIZE", "MEM F32", "MEM Q8", "MEM Q4"] {
        assert!(header.contains(column), "{column} not in {header:?}");
    }
    let sizes = dllm_models::resident::expected_resident_sizes(&snapshot).unwrap();
    assert!(sizes.q4 < sizes.q8 && sizes.q8 < sizes.default, "{sizes:?}");
    // ID REVISION COMMIT, then size on disk and memory at f32, q8, q4: each "<number> <unit>".
    let words: Vec<&str> = row.split_whitespace().collect();
    let shown: Vec<f64> = words[3..11].chunks(2).map(human_bytes).collect();
    for (shown, want) in shown[1..].iter().zip([sizes.default, sizes.q8, sizes.q4]) {
        let off = (shown - want as f64).abs() / want as f64;
        assert!(off < 0.01, "{want} bytes shown as {shown} in {row:?}");
    }

    let requests = hub.seen().len();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("lib.rs");
    std::fs::write(&file, RUST).unwrap();
    let offline = [("HF_HOME", home_path), ("HF_HUB_OFFLINE", "1")];
    let args = [
        "infill",
        file.to_str().unwrap(),
        "--at",
        "2:5",
        "--model",
        "org/constant",
    ];
    let answer = run_hub(
        &[&args[..], &["--steps", "8", "--max-tokens", "6"]].concat(),
        &offline,
    );
    assert_eq!(answer.code, 0, "{}", answer.stderr);
    assert!(
        answer.stdout.trim_end().chars().all(|c| c == 'a'),
        "{:?}",
        answer.stdout
    );
    assert_eq!(hub.seen().len(), requests, "offline: no request");
}

#[test]
fn pull_of_an_unknown_repository_or_a_path_is_one_line_with_the_reason() {
    let hub = FakeHub::start();
    let home = tempfile::tempdir().unwrap();
    let env = [
        ("HF_ENDPOINT", hub.endpoint.as_str()),
        ("HF_HOME", home.path().to_str().unwrap()),
    ];
    let missing = run_hub(&["pull", "org/missing"], &env);
    assert_eq!(missing.code, EXIT_MODEL, "{}", missing.stderr);
    assert_eq!(missing.stderr.lines().count(), 1, "{:?}", missing.stderr);
    assert!(
        missing.stderr.contains("no such repository"),
        "{:?}",
        missing.stderr
    );

    let path = run_hub(&["pull", "./some/dir"], &env);
    assert_eq!(path.code, super::EXIT_USAGE, "{}", path.stderr);
    assert!(
        path.stderr.contains("not a Hugging Face id"),
        "{:?}",
        path.stderr
    );
}

/// Bytes from a size as `dllm-ls models` prints it (`["1.50", "MiB"]`, `["512", "B"]`).
fn human_bytes(words: &[&str]) -> f64 {
    let unit = match words[1] {
        "B" => 1.0,
        "KiB" => 1024.0,
        "MiB" => 1024.0 * 1024.0,
        "GiB" => 1024.0 * 1024.0 * 1024.0,
        other => panic!("unit {other}"),
    };
    words[0].parse::<f64>().unwrap() * unit
}
