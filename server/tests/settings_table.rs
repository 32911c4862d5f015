//! The settings table (server/src/config/table.rs) against everything made from it.
//!
//! `generated_files_match_the_settings_table` rewrites VS Code's package.json settings,
//! activation events and menu filters, editors/vscode/src/settings.generated.ts, the README's
//! settings table and the Neovim plugin's filetypes from the table and grammars/, and fails
//! when any of them changed: after editing the table, run
//! `cargo test -p dllm-ls --test settings_table` and commit what it wrote (a second run passes).
//! The command line's model flags are built from the table at run time; the other tests walk
//! them through clap to check each flag is its setting, with the setting's bounds.

use std::path::{Path, PathBuf};

use clap::{Arg, CommandFactory, Parser};
use dllm_ls::cli::{Cli, Command, MaxTokensFor, MODEL_FLAGS};
use dllm_ls::config::generate::{self, REGENERATE};
use dllm_ls::config::table::{Cli as Flag, DefaultValue, Kind, Min, Setting, SETTINGS};
use dllm_ls::config::Config;
use serde_json::{json, Value};

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("server/ has a parent")
        .to_path_buf()
}

/// A file whose contents `update` makes from the table; `None`: its anchors are missing.
type Update = fn(&str) -> Option<String>;

fn whole_file(_: &str) -> Option<String> {
    Some(generate::vscode::settings_ts())
}

const GENERATED: [(&str, Update); 4] = [
    ("editors/vscode/package.json", generate::update_package_json),
    ("editors/vscode/src/settings.generated.ts", whole_file),
    ("README.md", generate::update_readme),
    (
        "editors/nvim/lua/dllm/config.lua",
        generate::update_nvim_config,
    ),
];

/// Writes the file when it differs from what the table makes of it; whether it did.
fn ensure_generated(relative: &str, update: Update) -> bool {
    let path = repo_root().join(relative);
    let old = std::fs::read_to_string(&path).unwrap_or_default();
    let new = update(&old).unwrap_or_else(|| {
        panic!("{relative}: the part generated from the settings table is not found")
    });
    if new.replace("\r\n", "\n") == old.replace("\r\n", "\n") {
        return false;
    }
    std::fs::write(&path, new).unwrap_or_else(|e| panic!("cannot write {relative}: {e}"));
    true
}

#[test]
fn generated_files_match_the_settings_table() {
    let stale: Vec<&str> = GENERATED
        .iter()
        .filter(|(path, update)| ensure_generated(path, *update))
        .map(|(path, _)| *path)
        .collect();
    assert!(
        stale.is_empty(),
        "{} did not match the settings table and were rewritten from it; commit them \
         (`{REGENERATE}` passes now)",
        stale.join(", ")
    );
}

/// The model flags of a subcommand, by clap's introspection.
fn model_flags(subcommand: &str) -> Vec<Arg> {
    let cli = Cli::command();
    let sub = cli
        .find_subcommand(subcommand)
        .unwrap_or_else(|| panic!("no subcommand {subcommand}"));
    sub.get_arguments()
        .filter(|a| a.get_help_heading() == Some(MODEL_FLAGS))
        .cloned()
        .collect()
}

fn setting_of_flag(long: &str) -> &'static Setting {
    SETTINGS
        .iter()
        .find(|s| s.flag() == Some(long))
        .unwrap_or_else(|| panic!("--{long} is no setting of the table"))
}

#[test]
fn every_model_flag_is_a_setting_with_its_doc_and_default_and_back() {
    for sub in ["infill", "fill-holes"] {
        let flags = model_flags(sub);
        for arg in &flags {
            let long = arg.get_long().expect("a long flag");
            let setting = setting_of_flag(long);
            let help = arg.get_help().map(ToString::to_string);
            assert_eq!(help, Some(generate::flag_help(setting)), "--{long} help");
            assert!(
                arg.get_default_values().is_empty(),
                "--{long}: left out, the setting's own default applies"
            );
        }
        for setting in SETTINGS.iter().filter(|s| s.cli != Flag::No) {
            let long = setting.flag().unwrap();
            assert!(
                flags.iter().any(|a| a.get_long() == Some(long)),
                "{sub} lacks --{long} of `{}`",
                setting.key
            );
        }
    }
}

/// No hand-written flag of a subcommand stands for a setting outside the table's flags.
#[test]
fn no_other_flag_shadows_a_setting() {
    let cli = Cli::command();
    for sub in cli.get_subcommands() {
        for arg in sub
            .get_arguments()
            .filter(|a| a.get_help_heading() != Some(MODEL_FLAGS))
        {
            let Some(long) = arg.get_long() else { continue };
            let camel = long
                .split('-')
                .enumerate()
                .map(|(i, w)| match i {
                    0 => w.to_string(),
                    _ => w[..1].to_uppercase() + &w[1..],
                })
                .collect::<String>();
            assert!(
                SETTINGS
                    .iter()
                    .all(|s| s.key != camel && s.flag() != Some(long)),
                "{} --{long} is a setting: give it `Cli::Flag` in the table instead",
                sub.get_name()
            );
        }
    }
}

/// The config `infill` would run with these arguments, or the first refusal.
fn config_of(args: &[&str]) -> Result<Config, String> {
    let mut argv = vec!["dllm-ls", "infill"];
    argv.extend(args);
    let cli = Cli::try_parse_from(argv).map_err(|e| e.to_string())?;
    let Some(Command::Infill(infill)) = cli.command else {
        panic!("parsed as another command")
    };
    infill
        .model
        .config(MaxTokensFor::Blocks)
        .map_err(|e| format!("{:#}", e.error))
}

/// Values at and just past each bound of a setting: (text for the flag, JSON, accepted).
fn probes(setting: &Setting) -> Vec<(String, Value, bool)> {
    let int = |n: u64, ok| (n.to_string(), json!(n), ok);
    let num = |x: f64, ok| (x.to_string(), json!(x), ok);
    match setting.kind {
        Kind::Int { min, max } => {
            let mut p = vec![int(min, true)];
            p.extend(min.checked_sub(1).map(|below| int(below, false)));
            match max {
                Some(max) => p.extend([int(max, true), int(max + 1, false)]),
                None => p.push(int(u64::MAX, true)),
            }
            p
        }
        Kind::Number { min, max } => {
            let low = match min {
                Min::Inclusive(m) => num(m, true),
                Min::Exclusive(m) => num(m, false),
            };
            vec![low, num(max, true), num(max + 0.5, false)]
        }
        Kind::Bool => vec![
            ("true".into(), json!(true), true),
            ("false".into(), json!(false), true),
        ],
        Kind::Choice { choices, .. } => {
            let mut p: Vec<_> = choices
                .iter()
                .map(|c| (c.name.to_string(), json!(c.name), true))
                .collect();
            p.push(("no-such-name".into(), json!("no-such-name"), false));
            p
        }
        Kind::Text { .. } => vec![("some/text".into(), json!("some/text"), true)],
        Kind::List { .. } => vec![],
    }
}

#[test]
fn every_model_flag_takes_its_settings_bounds_and_sets_that_setting() {
    for arg in model_flags("infill") {
        let long = arg.get_long().unwrap();
        let setting = setting_of_flag(long);
        for (text, value, accepted) in probes(setting) {
            let flag = format!("--{long}={text}");
            let got = config_of(&[&flag]);
            assert_eq!(got.is_ok(), accepted, "{flag}: {got:?}");
            if let Ok(config) = got {
                let mut expected = Config::default();
                expected.set(setting.key, &value).unwrap();
                assert_eq!(config, expected, "{flag} sets `{}`", setting.key);
            }
        }
    }
}

#[test]
fn a_flag_left_out_keeps_the_tables_default() {
    assert_eq!(config_of(&[]).unwrap(), Config::default());
    for setting in SETTINGS {
        let mut config = Config::default();
        let default = setting.default;
        config.set(setting.key, &default.to_json()).unwrap();
        assert_eq!(config, Config::default(), "`{}` = {default:?}", setting.key);
        assert!(
            default != DefaultValue::Null || setting.null_means.is_some(),
            "`{}` defaults to null, which it refuses",
            setting.key
        );
    }
}
