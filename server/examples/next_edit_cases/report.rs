//! The benchmark's figures: per engine, precision (suggestions equal to the expected edit),
//! recall (cases with an expected edit that got it), the share of cases with a wrong
//! suggestion, latency at p50 and p95; overall, per kind and per language.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::json;

use super::grade::Outcome;
use super::{Case, Kind};

/// One engine's answer to one case, graded.
pub struct Graded {
    pub engine: &'static str,
    pub lang: String,
    pub kind: Kind,
    pub outcome: Outcome,
    pub took: Duration,
    /// The request ended in an error (graded as no suggestion).
    pub errored: bool,
}

/// Counts and latencies of a group of graded answers.
#[derive(Default)]
struct Tally {
    counts: BTreeMap<Outcome, usize>,
    millis: Vec<f64>,
    errors: usize,
}

impl Tally {
    fn add(&mut self, g: &Graded) {
        *self.counts.entry(g.outcome).or_default() += 1;
        self.millis.push(g.took.as_secs_f64() * 1e3);
        self.errors += usize::from(g.errored);
    }

    fn count(&self, o: Outcome) -> usize {
        self.counts.get(&o).copied().unwrap_or(0)
    }

    fn cases(&self) -> usize {
        self.counts.values().sum()
    }

    /// Right suggestions over all suggestions; `None` when there were none.
    fn precision(&self) -> Option<f64> {
        let suggested = self.count(Outcome::Right) + self.count(Outcome::Wrong);
        (suggested > 0).then(|| self.count(Outcome::Right) as f64 / suggested as f64)
    }

    /// Right suggestions over the cases that expected an edit (right, missed, and wrong ones
    /// where an edit was expected are not told apart here, so recall counts from `expecting`).
    fn recall(&self, expecting: usize) -> Option<f64> {
        (expecting > 0).then(|| self.count(Outcome::Right) as f64 / expecting as f64)
    }

    fn wrong_share(&self) -> f64 {
        self.count(Outcome::Wrong) as f64 / self.cases().max(1) as f64
    }

    fn percentile(&self, p: f64) -> f64 {
        let mut xs = self.millis.clone();
        if xs.is_empty() {
            return f64::NAN;
        }
        xs.sort_by(f64::total_cmp);
        xs[((xs.len() - 1) as f64 * p).round() as usize]
    }
}

/// Every graded answer, grouped as the tables need them.
#[derive(Default)]
pub struct Report {
    engines: Vec<&'static str>,
    all: BTreeMap<&'static str, Tally>,
    expecting_all: BTreeMap<&'static str, usize>,
    by_kind: BTreeMap<(&'static str, Kind), Tally>,
    by_lang: BTreeMap<(&'static str, String), Tally>,
    expecting_lang: BTreeMap<(&'static str, String), usize>,
}

impl Report {
    pub fn add(&mut self, g: Graded) {
        if !self.engines.contains(&g.engine) {
            self.engines.push(g.engine);
        }
        let expects = usize::from(g.kind.expects_edit());
        self.all.entry(g.engine).or_default().add(&g);
        *self.expecting_all.entry(g.engine).or_default() += expects;
        self.by_kind.entry((g.engine, g.kind)).or_default().add(&g);
        let key = (g.engine, g.lang.clone());
        self.by_lang.entry(key.clone()).or_default().add(&g);
        *self.expecting_lang.entry(key).or_default() += expects;
    }

    pub fn print(&self, cases: &[Case]) {
        let expecting = cases.iter().filter(|c| c.kind.expects_edit()).count();
        println!(
            "{} cases ({} with an expected edit, {} where nothing should follow)",
            cases.len(),
            expecting,
            cases.len() - expecting
        );
        println!();
        println!("| engine | precision | recall | wrong | right / suggested | errors | p50 ms | p95 ms |");
        println!("|---|---|---|---|---|---|---|---|");
        for e in &self.engines {
            let t = &self.all[e];
            println!("| {e} | {} |", row(t, self.expecting_all[e]));
        }
        println!();
        println!(
            "Per kind (recall over the kind's cases; for the \"none\" kinds only wrong counts):"
        );
        println!();
        println!("| engine | kind | n | precision | recall | wrong | right / suggested | errors | p50 ms | p95 ms |");
        println!("|---|---|---|---|---|---|---|---|---|---|");
        for e in &self.engines {
            for kind in Kind::ALL {
                if let Some(t) = self.by_kind.get(&(*e, kind)) {
                    let expecting = if kind.expects_edit() { t.cases() } else { 0 };
                    println!(
                        "| {e} | {} | {} | {} |",
                        kind.name(),
                        t.cases(),
                        row(t, expecting)
                    );
                }
            }
        }
        println!();
        println!("| engine | language | n | precision | recall | wrong | right / suggested | errors | p50 ms | p95 ms |");
        println!("|---|---|---|---|---|---|---|---|---|---|");
        for ((e, lang), t) in &self.by_lang {
            let expecting = self.expecting_lang[&(*e, lang.clone())];
            println!("| {e} | {lang} | {} | {} |", t.cases(), row(t, expecting));
        }
    }

    pub fn json(&self) -> serde_json::Value {
        let tally = |t: &Tally, expecting: usize| {
            json!({"cases": t.cases(), "expecting": expecting,
                   "right": t.count(Outcome::Right), "wrong": t.count(Outcome::Wrong),
                   "missed": t.count(Outcome::Missed), "quiet": t.count(Outcome::Quiet),
                   "precision": t.precision(), "recall": t.recall(expecting),
                   "wrong_share": t.wrong_share(), "errors": t.errors,
                   "p50_ms": t.percentile(0.5), "p95_ms": t.percentile(0.95)})
        };
        let engines: Vec<_> = self
            .engines
            .iter()
            .map(|e| {
                let kinds: serde_json::Map<_, _> = self
                    .by_kind
                    .iter()
                    .filter(|((en, _), _)| en == e)
                    .map(|((_, k), t)| {
                        let expecting = if k.expects_edit() { t.cases() } else { 0 };
                        (k.name().to_string(), tally(t, expecting))
                    })
                    .collect();
                let langs: serde_json::Map<_, _> = self
                    .by_lang
                    .iter()
                    .filter(|((en, _), _)| en == e)
                    .map(|((en, l), t)| {
                        (l.clone(), tally(t, self.expecting_lang[&(*en, l.clone())]))
                    })
                    .collect();
                json!({"engine": e, "all": tally(&self.all[e], self.expecting_all[e]),
                       "kinds": kinds, "languages": langs})
            })
            .collect();
        json!(engines)
    }
}

fn percent(x: Option<f64>) -> String {
    x.map_or("–".into(), |x| format!("{:.1}%", 100.0 * x))
}

fn row(t: &Tally, expecting: usize) -> String {
    let suggested = t.count(Outcome::Right) + t.count(Outcome::Wrong);
    format!(
        "{} | {} | {:.1}% | {}/{} | {} | {:.2} | {:.2}",
        percent(t.precision()),
        percent(t.recall(expecting)),
        100.0 * t.wrong_share(),
        t.count(Outcome::Right),
        suggested,
        t.errors,
        t.percentile(0.5),
        t.percentile(0.95)
    )
}

#[cfg(feature = "testing")]
/// The remote engine's figures over its contract fixtures (`(name, outcome, latency)` each):
/// printed, and as JSON.
pub fn fixtures(rows: &[(&str, Outcome, Duration)]) -> serde_json::Value {
    let mut t = Tally::default();
    let mut expecting = 0;
    for (_, outcome, took) in rows {
        *t.counts.entry(*outcome).or_default() += 1;
        t.millis.push(took.as_secs_f64() * 1e3);
        // Every documented fixture expects a proposal, except where it answers "no edit"
        // (quiet); a wrong one may have expected either, and counts as expecting one.
        expecting += usize::from(*outcome != Outcome::Quiet);
    }
    println!();
    println!(
        "Remote engine (Inception /edit/completions), contract fixtures only: {} cases, each \
         answered by a loopback server with the documented reply (latency is the client's, \
         not a model's):",
        rows.len()
    );
    println!();
    println!(
        "| engine | precision | recall | wrong | right / suggested | errors | p50 ms | p95 ms |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    println!("| remote (fixtures) | {} |", row(&t, expecting));
    let cases: Vec<_> = rows
        .iter()
        .map(|(name, outcome, took)| {
            json!({"name": name, "outcome": outcome.name(), "ms": took.as_secs_f64() * 1e3})
        })
        .collect();
    json!({"engine": "remote (contract fixtures)", "cases": cases,
           "precision": t.precision(), "recall": t.recall(expecting),
           "wrong_share": t.wrong_share(), "p50_ms": t.percentile(0.5),
           "p95_ms": t.percentile(0.95)})
}
