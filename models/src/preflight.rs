//! `config.json` against the weight files' headers, before anything is sized from the config:
//! a config that claims more than its files hold (more layers, another hidden or vocabulary
//! size) is an error naming the field and both numbers, not a multi-gigabyte allocation.

use std::collections::BTreeSet;
use std::path::Path;

use serde_json::Value;

use crate::checkpoint::{Inventory, TensorSpec};
use crate::config::{ArchConfig, SizeKeys};
use crate::error::{Error, Result};
use crate::transformer::{tensor_specs, WeightNames};

/// Checks the config against the weights and returns the tensors to load, each already checked
/// for presence, shape and dtype.
pub(crate) fn checked_specs(
    cfg: &ArchConfig,
    config_path: &Path,
    config_json: &Value,
    weights: &Inventory,
) -> Result<Vec<TensorSpec>> {
    let keys = SizeKeys::of(cfg.family, config_json);
    let names = WeightNames::of(cfg.family);
    check_embedding(cfg, config_path, &keys, &names, weights)?;
    check_layer_count(cfg, config_path, &keys, &names, weights)?;
    // Bounded now: at most as many layers as the files hold.
    let specs = tensor_specs(cfg);
    for spec in &specs {
        weights.check(spec)?;
    }
    Ok(specs)
}

/// The embedding's shape is the vocabulary and hidden sizes the files really have.
fn check_embedding(
    cfg: &ArchConfig,
    config_path: &Path,
    keys: &SizeKeys,
    names: &WeightNames,
    weights: &Inventory,
) -> Result<()> {
    let (path, info) = weights.info(&names.embed)?;
    let expected = vec![cfg.vocab_size, cfg.hidden_size];
    let &[rows, cols] = info.shape.as_slice() else {
        return Err(Error::TensorShape {
            path: path.to_path_buf(),
            name: names.embed.clone(),
            actual: info.shape.clone(),
            expected,
        });
    };
    let mismatch = |field: &str, config: usize, actual: usize, what: &str| Error::ConfigMismatch {
        path: config_path.to_path_buf(),
        field: field.to_string(),
        config,
        actual,
        what: format!("{what} of `{}` in {}", names.embed, path.display()),
    };
    if cols != cfg.hidden_size {
        return Err(mismatch(keys.hidden, cfg.hidden_size, cols, "columns"));
    }
    if rows != cfg.vocab_size {
        return Err(mismatch(keys.vocab, cfg.vocab_size, rows, "rows"));
    }
    Ok(())
}

/// The config may use fewer layers than the files hold, never more.
fn check_layer_count(
    cfg: &ArchConfig,
    config_path: &Path,
    keys: &SizeKeys,
    names: &WeightNames,
    weights: &Inventory,
) -> Result<()> {
    let held: BTreeSet<usize> = weights
        .names()
        .filter_map(|name| names.layer_index(&name))
        .collect();
    if cfg.num_layers > held.len() {
        return Err(Error::ConfigMismatch {
            path: config_path.to_path_buf(),
            field: keys.layers.to_string(),
            config: cfg.num_layers,
            actual: held.len(),
            what: format!(
                "layers with tensors in {}",
                weights.files().describe().display()
            ),
        });
    }
    Ok(())
}
