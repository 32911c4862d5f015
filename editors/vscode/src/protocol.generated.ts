// Generated from server/src/lsp/command.rs by `cargo test -p dllm-ls --lib lsp::command`: do not edit.

/** The `dllm.*` commands of workspace/executeCommand. */
export const COMMANDS = {
  rewrite: 'dllm.rewrite',
  fillHoles: 'dllm.fillHoles',
  completeBlock: 'dllm.completeBlock',
  status: 'dllm.status',
} as const;

/** The fields of the editing commands' one argument. */
export const COMMAND_ARGUMENT_FIELDS = ['instruction', 'position', 'range', 'uri'] as const;

/** The states `dllm.status` answers. */
export const STATUS_STATES = ['failed', 'loading', 'not_loaded', 'ready'] as const;

/** The fields a `loading` status adds once the load reports progress, and its phases. */
export const LOADING_PROGRESS_FIELDS = ['doneMb', 'file', 'percent', 'phase', 'totalMb'] as const;
export const LOADING_PHASES = ['downloading', 'loading'] as const;
