//! How many threads the engine's products run on, and which thread runs a pass.
//!
//! candle looks its thread count up before every matrix product: it reads `RAYON_NUM_THREADS`
//! and, when that is unset, counts the physical cores by parsing `/proc/cpuinfo`. A cached
//! denoising step makes a few dozen small products, for which the lookups would cost as much as
//! the arithmetic; setting the variable once makes every later lookup a string parse.
//!
//! A parallel operation called from a thread outside the rayon pool (the server's model
//! thread, a benchmark's main thread) is handed to the pool while the caller sleeps until it is
//! done: two thread wake-ups per operation, and a pass makes dozens. [`on_pool`] runs a whole
//! pass on a pool thread instead, where the operations inside it split their work with the
//! other threads directly.

/// Sets `RAYON_NUM_THREADS` to candle's own default (the physical core count) when the user has
/// not set it, and returns the thread count in effect.
///
/// Call it first thing in `main`, before any other thread is started: changing the environment
/// while another thread reads it is undefined behaviour in the C library.
pub fn pin_thread_count() -> usize {
    let set = std::env::var("RAYON_NUM_THREADS")
        .ok()
        .and_then(|s| s.trim().parse::<usize>().ok())
        .filter(|&n| n > 0);
    match set {
        Some(n) => n,
        None => {
            let n = candle_core::utils::get_num_threads();
            std::env::set_var("RAYON_NUM_THREADS", n.to_string());
            n
        }
    }
}

/// Runs `f` on a thread of the global rayon pool, or right here when this already is one (see
/// the module comment).
pub(crate) fn on_pool<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    if rayon::current_thread_index().is_some() {
        f()
    } else {
        rayon::scope(|_| f())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passes_run_on_a_pool_thread() {
        assert_eq!(
            rayon::current_thread_index(),
            None,
            "the test harness's thread"
        );
        assert!(on_pool(rayon::current_thread_index).is_some());
        // Nested: stays where it is.
        let (outer, inner) = on_pool(|| {
            let outer = rayon::current_thread_index();
            (outer, on_pool(rayon::current_thread_index))
        });
        assert_eq!(outer, inner);
    }

    #[test]
    fn the_count_in_effect_is_the_one_candle_reads() {
        // Whatever the environment held, afterwards it names the count that was returned, so
        // candle's per-product lookup no longer falls back to counting cores.
        let n = pin_thread_count();
        assert!(n >= 1);
        assert_eq!(std::env::var("RAYON_NUM_THREADS").unwrap(), n.to_string());
        assert_eq!(candle_core::utils::get_num_threads(), n);
    }
}
