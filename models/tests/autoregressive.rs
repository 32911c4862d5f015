//! The autoregressive baseline the benchmarks compare with (the `bench` feature): decoding
//! with a causal cache gives what a causal pass gives.

mod common;

use candle_core::{Device, Tensor};
use common::{load, reference, relative_error};

#[test]
fn the_autoregressive_baseline_decodes_like_a_causal_pass() {
    // The benchmark's autoregressive baseline: appending a token to a causal cache gives what a
    // causal pass over the longer sequence gives at its last row.
    let model = load("dream-tiny");
    let transformer = model.transformer();
    let (ids, _) = reference("dream-tiny");
    let n = ids.len();
    let prefix = Tensor::from_slice(&ids[..n - 1], (1, n - 1), &Device::Cpu).unwrap();
    let positions: Vec<usize> = (0..n - 1).collect();
    let (_, mut cache) = transformer
        .forward_causal_caching(&prefix, &positions, Some(&[0]))
        .unwrap();
    let appended = transformer
        .forward_append(&mut cache, ids[n - 1], n - 1)
        .unwrap();
    assert_eq!(cache.len(), n);
    let whole = Tensor::from_slice(&ids, (1, n), &Device::Cpu).unwrap();
    let all: Vec<usize> = (0..n).collect();
    let (causal, _) = transformer
        .forward_causal_caching(&whole, &all, Some(&[n - 1]))
        .unwrap();
    let err = relative_error(&appended, &causal);
    assert!(err < 1e-5, "{err}");
    // and it is causal: not what the bidirectional pass gives there
    let bidirectional = transformer
        .forward(&whole, &all, None, Some(&[n - 1]))
        .unwrap();
    assert!(relative_error(&appended, &bidirectional) > 1e-3);
}
