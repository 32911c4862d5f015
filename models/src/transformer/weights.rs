//! Where each weight of the transformer lives in a checkpoint: the names each family gives its
//! tensors, the shapes a config implies, and taking the loaded tensors by role while the layers
//! are built (the part of candle-nn's `VarBuilder` this engine needs).
//!
//! Both families hold the same tensors under different names, so everything past this module
//! is family-blind.

use std::collections::HashMap;

use candle_core::Tensor;

use crate::checkpoint::TensorSpec;
use crate::config::{ArchConfig, Family};
use crate::error::{Error, Result};
use crate::quant::QuantizedMatrix;

/// Weight names of one family.
pub(crate) struct WeightNames {
    pub embed: String,
    pub final_norm: String,
    pub head: String,
    layer: fn(usize, LayerTensor) -> String,
    /// What every layer tensor's name starts with, before the layer's index.
    layer_prefix: &'static str,
}

/// The role of a tensor inside a layer.
#[derive(Clone, Copy, PartialEq)]
pub(crate) enum LayerTensor {
    AttnNorm,
    Q,
    K,
    V,
    QBias,
    KBias,
    VBias,
    O,
    MlpNorm,
    Gate,
    Up,
    Down,
}

impl LayerTensor {
    pub const ALL: [LayerTensor; 12] = {
        use LayerTensor::*;
        [
            AttnNorm, Q, K, V, QBias, KBias, VBias, O, MlpNorm, Gate, Up, Down,
        ]
    };
}

fn dream_layer(i: usize, t: LayerTensor) -> String {
    use LayerTensor::*;
    let p = format!("model.layers.{i}");
    match t {
        AttnNorm => format!("{p}.input_layernorm.weight"),
        Q => format!("{p}.self_attn.q_proj.weight"),
        K => format!("{p}.self_attn.k_proj.weight"),
        V => format!("{p}.self_attn.v_proj.weight"),
        QBias => format!("{p}.self_attn.q_proj.bias"),
        KBias => format!("{p}.self_attn.k_proj.bias"),
        VBias => format!("{p}.self_attn.v_proj.bias"),
        O => format!("{p}.self_attn.o_proj.weight"),
        MlpNorm => format!("{p}.post_attention_layernorm.weight"),
        Gate => format!("{p}.mlp.gate_proj.weight"),
        Up => format!("{p}.mlp.up_proj.weight"),
        Down => format!("{p}.mlp.down_proj.weight"),
    }
}

fn llada_layer(i: usize, t: LayerTensor) -> String {
    use LayerTensor::*;
    let p = format!("model.transformer.blocks.{i}");
    let name = match t {
        AttnNorm => "attn_norm",
        Q | QBias => "q_proj",
        K | KBias => "k_proj",
        V | VBias => "v_proj",
        O => "attn_out",
        MlpNorm => "ff_norm",
        Gate => "ff_proj",
        Up => "up_proj",
        Down => "ff_out",
    };
    let suffix = if matches!(t, QBias | KBias | VBias) {
        "bias"
    } else {
        "weight"
    };
    format!("{p}.{name}.{suffix}")
}

impl WeightNames {
    pub fn of(family: Family) -> Self {
        match family {
            Family::Dream => WeightNames {
                embed: "model.embed_tokens.weight".into(),
                final_norm: "model.norm.weight".into(),
                head: "lm_head.weight".into(),
                layer: dream_layer,
                layer_prefix: "model.layers.",
            },
            Family::Llada => WeightNames {
                embed: "model.transformer.wte.weight".into(),
                final_norm: "model.transformer.ln_f.weight".into(),
                head: "model.transformer.ff_out.weight".into(),
                layer: llada_layer,
                layer_prefix: "model.transformer.blocks.",
            },
        }
    }

    pub fn layer(&self, i: usize, t: LayerTensor) -> String {
        (self.layer)(i, t)
    }

    /// The layer a tensor name belongs to, if it names a layer's tensor.
    pub fn layer_index(&self, name: &str) -> Option<usize> {
        let rest = name.strip_prefix(self.layer_prefix)?;
        let (index, _) = rest.split_once('.')?;
        // Digits only: `usize::from_str` would also take a leading `+`.
        if index.is_empty() || !index.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        index.parse().ok()
    }
}

/// Every tensor the config implies, with its expected shape.
pub(crate) fn tensor_specs(cfg: &ArchConfig) -> Vec<TensorSpec> {
    let names = WeightNames::of(cfg.family);
    let (h, v) = (cfg.hidden_size, cfg.vocab_size);
    let mut specs = vec![
        TensorSpec {
            name: names.embed.clone(),
            shape: vec![v, h],
        },
        TensorSpec {
            name: names.final_norm.clone(),
            shape: vec![h],
        },
    ];
    if !cfg.tie_word_embeddings {
        specs.push(TensorSpec {
            name: names.head.clone(),
            shape: vec![v, h],
        });
    }
    for l in 0..cfg.num_layers {
        specs.extend(layer_shapes(cfg).into_iter().map(|(t, shape)| TensorSpec {
            name: names.layer(l, t),
            shape,
        }));
    }
    specs
}

/// The tensors of one layer and their shapes.
fn layer_shapes(cfg: &ArchConfig) -> Vec<(LayerTensor, Vec<usize>)> {
    use LayerTensor::*;
    let (h, i) = (cfg.hidden_size, cfg.intermediate_size);
    let q = cfg.num_heads * cfg.head_dim;
    let kv = cfg.num_kv_heads * cfg.head_dim;
    let mut layer = vec![
        (AttnNorm, vec![h]),
        (Q, vec![q, h]),
        (K, vec![kv, h]),
        (V, vec![kv, h]),
        (O, vec![h, q]),
        (MlpNorm, vec![h]),
        (Gate, vec![i, h]),
        (Up, vec![i, h]),
        (Down, vec![h, i]),
    ];
    if cfg.qkv_bias {
        layer.extend([(QBias, vec![q]), (KBias, vec![kv]), (VBias, vec![kv])]);
    }
    layer
}

/// A weight matrix as loaded: a tensor, or quantized blocks.
pub(crate) enum Matrix {
    Plain(Tensor),
    Quantized(QuantizedMatrix),
}

/// The loaded tensors (already checked against [`tensor_specs`]), taken by role as the model is
/// built; each is moved out, so no weight is held twice.
pub(crate) struct Weights {
    tensors: HashMap<String, Tensor>,
    /// Matrices quantized as they were loaded (none unless a quantized dtype was asked for).
    quantized: HashMap<String, QuantizedMatrix>,
    names: WeightNames,
    qkv_bias: bool,
}

impl Weights {
    pub fn new(cfg: &ArchConfig, tensors: HashMap<String, Tensor>) -> Self {
        Self::with_quantized(cfg, tensors, HashMap::new())
    }

    /// With some matrices already quantized.
    pub fn with_quantized(
        cfg: &ArchConfig,
        tensors: HashMap<String, Tensor>,
        quantized: HashMap<String, QuantizedMatrix>,
    ) -> Self {
        Weights {
            tensors,
            quantized,
            names: WeightNames::of(cfg.family),
            qkv_bias: cfg.qkv_bias,
        }
    }

    /// Matrix `t` of layer `layer`, quantized if it was loaded so.
    pub fn layer_matrix(&mut self, layer: usize, t: LayerTensor) -> Result<Matrix> {
        self.matrix(self.names.layer(layer, t))
    }

    /// The output head's matrix (untied models), quantized if it was loaded so.
    pub fn head_matrix(&mut self) -> Result<Matrix> {
        self.matrix(self.names.head.clone())
    }

    fn matrix(&mut self, name: String) -> Result<Matrix> {
        match self.quantized.remove(&name) {
            Some(q) => Ok(Matrix::Quantized(q)),
            None => self.take(name).map(Matrix::Plain),
        }
    }

    /// How many tensors are left (every layer has some: a bound on the layers to reserve).
    pub fn remaining(&self) -> usize {
        self.tensors.len() + self.quantized.len()
    }

    pub fn embed(&mut self) -> Result<Tensor> {
        self.take(self.names.embed.clone())
    }

    pub fn final_norm(&mut self) -> Result<Tensor> {
        self.take(self.names.final_norm.clone())
    }

    /// Tensor `t` of layer `layer`.
    pub fn layer(&mut self, layer: usize, t: LayerTensor) -> Result<Tensor> {
        self.take(self.names.layer(layer, t))
    }

    /// A q, k or v bias, present only in configs that say so.
    pub fn layer_bias(&mut self, layer: usize, t: LayerTensor) -> Result<Option<Tensor>> {
        self.qkv_bias.then(|| self.layer(layer, t)).transpose()
    }

    fn take(&mut self, name: String) -> Result<Tensor> {
        self.tensors.remove(&name).ok_or(Error::MissingTensor {
            path: "<weights>".into(),
            name,
        })
    }
}
