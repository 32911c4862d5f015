//! What a pass costs for a shape: its FLOPs and the bytes it must read, for benchmarks that
//! report speed against the machine's ceilings (matmul rate and memory bandwidth).
//!
//! Counts are in f64, which is exact below 2^53 and cannot overflow for any config.

use super::ArchConfig;

impl ArchConfig {
    /// FLOPs of one forward pass over `seq` tokens with the output head on `head_rows` rows
    /// (matmuls only: projections, MLP, attention scores and weighted values, head).
    pub fn forward_flops(&self, seq: usize, head_rows: usize) -> f64 {
        self.window_flops(seq, seq, head_rows)
    }

    /// FLOPs of a pass over `cols` columns whose queries attend to `keys` keys (a cached step:
    /// the window against the whole canvas; an autoregressive step: one column against its
    /// prefix), with the output head on `head_rows` rows. Matmuls only, as `forward_flops`.
    pub fn window_flops(&self, cols: usize, keys: usize, head_rows: usize) -> f64 {
        let (h, q) = (self.hidden_size as f64, self.q_width());
        let c = cols as f64;
        let proj = 2.0 * c * self.layer_weights_each();
        let attn = 2.0 * 2.0 * c * keys as f64 * q;
        let head = 2.0 * head_rows as f64 * h * self.vocab_size as f64;
        self.num_layers as f64 * (proj + attn) + head
    }

    /// Bytes a pass must read at least once: the layers' weights, the output head when any of
    /// `head_rows` rows asks for logits, and the keys and values of `keys` cached columns, at
    /// `bytes_per_value` (4 for f32). The floor of a pass that is memory-bound.
    pub fn pass_bytes(&self, keys: usize, head_rows: usize, bytes_per_value: usize) -> f64 {
        let head = match head_rows {
            0 => 0.0,
            _ => self.head_weights(),
        };
        (self.layer_weights() + head + self.cache_values(keys)) * bytes_per_value as f64
    }

    /// Weights of every layer's products (norms and biases aside).
    pub fn layer_weights(&self) -> f64 {
        self.num_layers as f64 * self.layer_weights_each()
    }

    /// Weights of the output head.
    pub fn head_weights(&self) -> f64 {
        self.vocab_size as f64 * self.hidden_size as f64
    }

    /// Cached keys and values of `keys` columns, every layer.
    pub fn cache_values(&self, keys: usize) -> f64 {
        let kv = self.num_kv_heads as f64 * self.head_dim as f64;
        self.num_layers as f64 * 2.0 * keys as f64 * kv
    }

    /// Weights of one layer's products: q, k, v, o and the MLP's three.
    fn layer_weights_each(&self) -> f64 {
        let (h, i, q) = (
            self.hidden_size as f64,
            self.intermediate_size as f64,
            self.q_width(),
        );
        let kv = self.num_kv_heads as f64 * self.head_dim as f64;
        h * q + 2.0 * h * kv + q * h + 3.0 * h * i
    }

    /// Columns of the query projection.
    fn q_width(&self) -> f64 {
        self.num_heads as f64 * self.head_dim as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pass_costs_add_up() {
        let cfg = ArchConfig::qwen2_5_0_5b();
        // A full pass is a window of every column against every column.
        assert_eq!(cfg.forward_flops(100, 3), cfg.window_flops(100, 100, 3));
        // Linear in the columns at a fixed number of keys; the head costs per row.
        let one = cfg.window_flops(1, 500, 0);
        assert!((cfg.window_flops(8, 500, 0) - 8.0 * one).abs() < 1.0);
        let head = cfg.window_flops(1, 500, 1) - one;
        assert_eq!(head, 2.0 * 896.0 * 151_936.0);
        // Per column, without attention, two FLOPs per weight of the layers.
        let per_column = cfg.window_flops(1, 0, 0);
        let weights = cfg.pass_bytes(0, 0, 1);
        assert_eq!(per_column, 2.0 * weights);
        // Weights and head are the whole model but its norms and biases (tied embedding).
        let all = cfg.pass_bytes(0, 1, 1);
        let params = cfg.parameter_count() as f64;
        assert!(all <= params && all > 0.999 * params, "{all} of {params}");
        // The cache: keys and values of every layer, at 4 bytes each in f32.
        let cache = cfg.pass_bytes(10, 0, 4) - cfg.pass_bytes(0, 0, 4);
        assert_eq!(cache, (24 * 2 * 10 * 128 * 4) as f64);
        assert_eq!(cfg.cache_values(10) * 4.0, cache);
    }
}
