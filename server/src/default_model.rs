//! The model used when none is configured. The project's own small model (issue 3) will be
//! embedded in the binary and unpacked here; until it lands there is none, and saying so clearly
//! is the honest answer.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum DefaultModelError {
    #[error(
        "no model configured and this build embeds no default model yet: set `model` \
         (initializationOptions) or pass --model DIR|ID (a Dream- or LLaDA-family checkpoint directory)"
    )]
    NotEmbedded,
}

pub fn directory() -> Result<PathBuf, DefaultModelError> {
    Err(DefaultModelError::NotEmbedded)
}
