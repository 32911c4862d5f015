//! The command line's progress bar while a model gets ready: bytes downloaded, then weight bytes
//! read, on stderr when it is a terminal and nowhere otherwise (a pipe or a log gets no bar
//! characters). The reports come throttled from the models crate.

use std::io::IsTerminal;
use std::sync::Mutex;

use dllm_models::LoadProgress;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressFinish, ProgressStyle};

use crate::engine::ProgressSink;

/// The file being downloaded (or "loading weights"), a bar as wide as the terminal leaves, bytes,
/// rate and time left.
const TEMPLATE: &str = "{msg:32!} [{wide_bar}] {bytes}/{total_bytes} {binary_bytes_per_sec} {eta}";

/// Which step the bar shows: a new step restarts its rate and time estimate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Download,
    Load,
}

/// A sink that draws the bar, or `None` when stderr is not a terminal.
pub fn sink() -> Option<ProgressSink> {
    if !std::io::stderr().is_terminal() {
        return None;
    }
    let style = ProgressStyle::with_template(TEMPLATE)
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
    let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr())
        .with_style(style)
        // A failed load drops the sink mid-way: the error line then stands alone.
        .with_finish(ProgressFinish::AndClear);
    let step = Mutex::new(None);
    Some(Box::new(move |report| show(&bar, &step, report)))
}

fn show(bar: &ProgressBar, step: &Mutex<Option<Step>>, report: LoadProgress) {
    let (now, message, done, total) = match report {
        LoadProgress::Downloading { file, done, total } => (Step::Download, file, done, total),
        LoadProgress::Loading { done, total } => {
            (Step::Load, "loading weights".to_string(), done, total)
        }
    };
    let mut step = step.lock().unwrap_or_else(|e| e.into_inner());
    if *step != Some(now) {
        *step = Some(now);
        bar.reset();
    }
    // Length first: a message redraws the bar, which must not show a total of 0 meanwhile.
    bar.set_length(total);
    bar.set_position(done);
    bar.set_message(message);
    if now == Step::Load && done >= total {
        bar.finish_and_clear();
    }
}
