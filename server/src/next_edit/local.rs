//! The local engine: the tokens [`remask`] finds inconsistent are masked in the document and
//! denoised by the local model with everything else in view, tied where they are one name. The
//! answer becomes a suggestion only when it agrees with the edit that caused it:
//! - a respelled token's mask must come back spelled as the user spelled it at the edit, or
//!   the model must find that spelling likelier there than the old one (the model decides
//!   *whether* this occurrence follows, the user already said *how*);
//! - a call's argument list must come back with its old arguments kept, only new ones added,
//!   as many as the function now takes, and parse.

use std::ops::Range;

use dllm_grammars::tokens::{calls_to, LeafKind, Parameters};
use dllm_grammars::{check_edits_on, SyntaxTree};
use dllm_models::{CancelFlag, InfillRequest};

use super::diff::smallest_edit;
use super::remask::{self, Followup, Remask};
use super::window::{self, WINDOW_LINES};
use super::{Context, Proposal};
use crate::config::{Config, Reach};
use crate::gate;
use crate::infiller::{Ask, Infiller, Stop};
use crate::pipeline::{first_line, request_for, tie_all, PipelineError, Region};
use crate::repetition::repetition_in;

/// Token budget of a respelled token's mask: exactly the new spelling's tokens, so that the
/// model can write it and nothing longer (only the new spelling is kept anyway); without a
/// tokenizer at hand, room for a name a little longer than it.
fn name_budget(infiller: &Infiller, new: &str) -> usize {
    infiller
        .count_tokens(new)
        .filter(|&n| n > 0)
        .unwrap_or((new.len() / 2 + 2).max(6))
}

/// The model's next edit for `ctx`, or `None` (nothing inconsistent, or an answer that does
/// not agree with the edit).
pub async fn suggest(
    infiller: &Infiller,
    ctx: &Context,
    config: &Config,
    cancel: &CancelFlag,
) -> Result<Option<Proposal>, PipelineError> {
    let snapshot = &ctx.snapshot;
    if !snapshot.is_whole() {
        return Err(PipelineError::NothingToDo(
            "next edits look at documents up to 128 KiB".into(),
        ));
    }
    let Some((tree, remask)) = plan(ctx)? else {
        return Ok(None);
    };
    let text: &str = &snapshot.text;
    let answer = denoise(infiller, text, &remask, config, cancel).await?;
    if let Some(proposal) = agreeing(&tree, text, &remask, &answer) {
        return Ok(Some(proposal));
    }
    // The model wrote something else; it may still find the user's spelling likelier here
    // than the old one.
    let Followup::Respelled { old, new, kind, .. } = &remask.followup else {
        return Ok(None);
    };
    let preferred = prefers(infiller, text, &remask, [new, old], config, cancel).await?;
    let target = remask.spans[remask.target].clone();
    Ok(preferred
        .then(|| respelled_proposal(target, old, new, *kind))
        .and_then(|p| vetted(&tree, text, p)))
}

/// The re-mask rule's own answer, without the model: the new spelling at the target of a
/// respelled token (vetted like the model's), nothing for a new parameter (only a model can
/// write the argument). The baseline the model has to beat: it adds recall only where it
/// writes what the rule cannot, and precision only where it turns down what the rule offers.
pub fn without_model(ctx: &Context) -> Result<Option<Proposal>, PipelineError> {
    let Some((tree, remask)) = plan(ctx)? else {
        return Ok(None);
    };
    let Followup::Respelled { old, new, kind, .. } = &remask.followup else {
        return Ok(None);
    };
    let target = remask.spans[remask.target].clone();
    let proposal = respelled_proposal(target, old, new, *kind);
    Ok(vetted(&tree, &ctx.snapshot.text, proposal))
}

/// The masks of `remask`, `budget` tokens each, in a request with the text around them.
fn request(text: &str, remask: &Remask, budget: usize, config: &Config) -> InfillRequest {
    let regions: Vec<Region> = remask
        .spans
        .iter()
        .map(|range| Region {
            range: range.clone(),
            max_tokens: budget,
        })
        .collect();
    let request = request_for(text, &regions, config.context_tokens);
    match remask.followup {
        Followup::Respelled { .. } => tie_all(request),
        Followup::Parameters { .. } => request,
    }
}

/// What the model writes in the target mask, first line only.
async fn denoise(
    infiller: &Infiller,
    text: &str,
    remask: &Remask,
    config: &Config,
    cancel: &CancelFlag,
) -> Result<String, PipelineError> {
    let budget = budget(infiller, remask, config);
    let ask = Ask {
        request: request(text, remask, budget, config),
        replaced: remask
            .spans
            .iter()
            .map(|r| text[r.clone()].to_string())
            .collect(),
        sampler: config.sampler_for(Reach::Line),
        stop: Stop::Line,
    };
    let out = infiller.infill(ask, cancel, None).await?;
    let answer = out
        .spans
        .get(remask.target)
        .map_or(String::new(), |raw| first_line(raw));
    let confidence = out
        .confidence
        .get(remask.target)
        .map(|c| gate::SCORE.of(&c.first_line().scores()));
    tracing::debug!(
        "next edit: the model answered {answer:?} for {:?} (confidence {confidence:?}, {} ms)",
        &text[remask.spans[remask.target].clone()],
        out.elapsed.as_millis()
    );
    Ok(answer)
}

/// Whether the model finds the first of two spellings likelier than the second in the target
/// mask (every mask as long as the spelling weighed): per token, so that a longer name is
/// not held against itself. `false` where the engine cannot tell.
async fn prefers(
    infiller: &Infiller,
    text: &str,
    remask: &Remask,
    [first, second]: [&str; 2],
    config: &Config,
    cancel: &CancelFlag,
) -> Result<bool, PipelineError> {
    let mut likelihood = [0.0f32; 2];
    for (i, spelling) in [first, second].into_iter().enumerate() {
        let Some(tokens) = infiller.count_tokens(spelling).filter(|&n| n > 0) else {
            return Ok(false);
        };
        let request = request(text, remask, tokens, config);
        let scored = infiller.fill_probabilities(request, remask.target, spelling, cancel);
        let Some(probabilities) = scored.await? else {
            return Ok(false);
        };
        likelihood[i] = per_token(&probabilities);
    }
    tracing::debug!(
        "next edit: {first:?} has likelihood {:.3} per token, {second:?} {:.3}",
        likelihood[0],
        likelihood[1]
    );
    Ok(likelihood[0] > likelihood[1])
}

/// The geometric mean of token probabilities: the likelihood of a text per token.
fn per_token(probabilities: &[f32]) -> f32 {
    if probabilities.is_empty() {
        return 0.0;
    }
    let log_sum: f32 = probabilities.iter().map(|p| p.max(1e-12).ln()).sum();
    (log_sum / probabilities.len() as f32).exp()
}

/// The inconsistent tokens around the latest edit, where the window around the cursor holds
/// that edit, with the tree they were read off (the checks of the answer read it too).
fn plan(ctx: &Context) -> Result<Option<(SyntaxTree, Remask)>, PipelineError> {
    let Some(edit) = remask::latest_edit(&ctx.history) else {
        return Ok(None);
    };
    let text: &str = &ctx.snapshot.text;
    let tree = ctx.snapshot.syntax_tree()?;
    let Some(followup) = remask::understand(&tree, text, edit) else {
        return Ok(None);
    };
    let window = window::around(text, ctx.cursor, WINDOW_LINES);
    let edited = followup.edited();
    if edited.start < window.start || edited.end > window.end {
        // The cursor moved on: the edit is no longer what the user is working on.
        return Ok(None);
    }
    Ok(remask::inconsistent(&tree, text, followup, window).map(|r| (tree, r)))
}

fn budget(infiller: &Infiller, remask: &Remask, config: &Config) -> usize {
    match &remask.followup {
        Followup::Respelled { new, .. } => name_budget(infiller, new),
        Followup::Parameters { .. } => {
            let arguments = remask.spans[remask.target].len();
            // Room for the old arguments and a new one like them (about 3 bytes a token).
            (arguments / 2 + 8).min(config.max_tokens_block)
        }
    }
}

/// The suggestion the answer makes, when it agrees with the edit.
fn agreeing(tree: &SyntaxTree, text: &str, remask: &Remask, answer: &str) -> Option<Proposal> {
    let target = remask.spans[remask.target].clone();
    let proposal = match &remask.followup {
        Followup::Respelled { old, new, kind, .. } => {
            if answer.trim() != new {
                tracing::debug!("next edit: the model did not write {old} → {new}");
                return None;
            }
            respelled_proposal(target, old, new, *kind)
        }
        Followup::Parameters { params, .. } => {
            let (range, inserted) = added_arguments(&text[target.clone()], answer)?;
            let at = target.start + range.start;
            let added = Proposal {
                range: at..at,
                text: inserted,
                label: format!(
                    "pass the new argument to `{}`",
                    params.function.as_deref().unwrap_or("the function")
                ),
            };
            takes_all_parameters(tree, text, &added, &target, params)?;
            added
        }
    };
    vetted(tree, text, proposal)
}

/// The target respelled as the user spelled the edited token.
fn respelled_proposal(target: Range<usize>, old: &str, new: &str, kind: LeafKind) -> Proposal {
    let verb = match kind {
        LeafKind::Identifier | LeafKind::Member => "rename",
        LeafKind::Number | LeafKind::String => "change",
    };
    Proposal {
        range: target,
        text: new.to_string(),
        label: format!("{verb} `{old}` → `{new}`"),
    }
}

/// The text the answer adds to the old arguments, when it only adds.
fn added_arguments(old: &str, answer: &str) -> Option<(Range<usize>, String)> {
    let (range, inserted) = smallest_edit(old, answer.trim_end())?;
    (range.is_empty() && inserted.contains(|c: char| !c.is_whitespace()))
        .then_some((range, inserted))
}

/// Whether the call, with the proposal applied, passes as many arguments as the function
/// requires.
fn takes_all_parameters(
    tree: &SyntaxTree,
    text: &str,
    proposal: &Proposal,
    arguments: &Range<usize>,
    params: &Parameters,
) -> Option<()> {
    let mut new_text = text.to_string();
    new_text.replace_range(proposal.range.clone(), &proposal.text);
    let new_tree = SyntaxTree::parse(tree.language, &new_text).ok()?;
    let open = arguments.start - 1;
    let name = params.function.as_deref()?;
    let call = calls_to(&new_tree, &new_text, name, open..new_text.len())
        .into_iter()
        .find(|c| c.arguments.start == open)?;
    (call.count == params.required).then_some(())
}

/// The proposal if it adds no syntax errors and does not repeat itself.
fn vetted(tree: &SyntaxTree, text: &str, proposal: Proposal) -> Option<Proposal> {
    if let Some(repeated) = repetition_in(&proposal.text) {
        tracing::debug!("next edit: withheld, it repeats {repeated:?}");
        return None;
    }
    let edits = [(proposal.range.clone(), proposal.text.clone())];
    match check_edits_on(tree, text, &edits) {
        Ok(check) if check.ok => Some(proposal),
        Ok(_) => {
            tracing::debug!("next edit: withheld, it adds syntax errors");
            None
        }
        Err(e) => {
            tracing::debug!("next edit: withheld, the syntax check failed: {e}");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_added_arguments_count() {
        assert_eq!(
            added_arguments("1, 2", "1, 2, 3"),
            Some((4..4, ", 3".into()))
        );
        assert_eq!(added_arguments("1, 2", "1, 2"), None);
        // Changing or dropping an old argument is not what a new parameter asks.
        assert_eq!(added_arguments("1, 2", "1, 5, 3"), None);
        assert_eq!(added_arguments("1, 2", "1"), None);
    }

    #[test]
    fn without_a_tokenizer_a_name_budget_has_room_for_the_new_name() {
        let settings = crate::remote::RemoteSettings {
            endpoint: None,
            api: crate::remote::Api::Fim,
            model: None,
            api_key_env: None,
            timeout: std::time::Duration::from_secs(1),
        };
        let remote = Infiller::Remote(crate::remote::RemoteEngine::new(
            settings,
            Default::default(),
        ));
        assert_eq!(name_budget(&remote, "aaaaaa"), 6);
        assert!(name_budget(&remote, &"x".repeat(40)) >= 20);
    }
}
