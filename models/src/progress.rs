//! Progress of getting a model ready (downloading its files, reading its weights), reported to
//! a caller's callback for progress displays: the language server's work-done progress, the
//! CLI's bar. Reports are throttled, so a display redraws at a human rate, not once a buffer.

use std::time::{Duration, Instant};

/// A step of getting a model ready, for progress displays (LSP work-done progress, the CLI bar).
#[derive(Debug, Clone, PartialEq)]
pub enum LoadProgress {
    /// Bytes of the checkpoint's files downloaded so far, of the total still to download.
    Downloading { file: String, done: u64, total: u64 },
    /// Weight bytes read into memory so far, of the total.
    Loading { done: u64, total: u64 },
}

/// The callback type progress goes to.
pub type ProgressFn<'a> = &'a (dyn Fn(LoadProgress) + Sync);

/// A callback that ignores every report, for callers with no display.
pub fn no_progress(_: LoadProgress) {}

/// The longest a display waits for news while bytes are moving.
const MIN_INTERVAL: Duration = Duration::from_millis(100);
/// Reports in between come at least this far apart, in parts per thousand of the total.
const MIN_STEP_PER_MILLE: u64 = 10;

/// Decides which counts are worth reporting: the first, the last, and in between one each 1% of
/// the total or each 100 ms, whichever comes first.
#[derive(Debug)]
pub struct Throttle {
    total: u64,
    last_done: Option<u64>,
    last_at: Instant,
}

impl Throttle {
    pub fn new(total: u64) -> Self {
        Throttle {
            total,
            last_done: None,
            last_at: Instant::now(),
        }
    }

    /// Whether `done` (of the total) should be reported now; if so, it is taken as reported.
    pub fn due(&mut self, done: u64) -> bool {
        let due = match self.last_done {
            None => true,
            Some(last) if done >= self.total => last < self.total,
            Some(last) => {
                let step = (self.total * MIN_STEP_PER_MILLE / 1000).max(1);
                done >= last.saturating_add(step)
                    || (done > last && self.last_at.elapsed() >= MIN_INTERVAL)
            }
        };
        if due {
            self.last_done = Some(done);
            self.last_at = Instant::now();
        }
        due
    }
}

/// Counts the weight bytes a load has read, reporting [`LoadProgress::Loading`] through
/// `progress` when the throttle says so; it reports 0 at once.
pub(crate) fn weight_reader(total: u64, progress: ProgressFn<'_>) -> impl FnMut(u64) + '_ {
    let (mut done, mut throttle) = (0u64, Throttle::new(total));
    let mut read = move |bytes: u64| {
        done += bytes;
        if throttle.due(done) {
            progress(LoadProgress::Loading { done, total });
        }
    };
    read(0);
    read
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_first_last_and_each_percent_not_each_byte() {
        let mut throttle = Throttle::new(100_000);
        let reported: Vec<u64> = (0..=100_000u64)
            .step_by(100)
            .filter(|&d| throttle.due(d))
            .collect();
        assert_eq!(reported.first(), Some(&0));
        assert_eq!(reported.last(), Some(&100_000));
        // One a percent, give or take reports forced by the clock on a slow machine.
        assert!(reported.len() >= 101, "{}", reported.len());
        assert!(reported.len() < 1000, "{}", reported.len());
    }

    #[test]
    fn the_end_is_reported_once() {
        let mut throttle = Throttle::new(10);
        assert!(throttle.due(0));
        assert!(throttle.due(10));
        assert!(!throttle.due(10));
    }

    #[test]
    fn an_empty_total_reports_start_and_nothing_more() {
        let mut throttle = Throttle::new(0);
        assert!(throttle.due(0));
        assert!(!throttle.due(0));
    }
}
