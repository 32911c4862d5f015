// Generated from the settings table, server/src/config/table.rs: edit the table and run
// `cargo test -p dllm-ls --test settings_table`, which rewrites this file.

/** The server's settings keys. */
export const SERVER_KEYS = [
  'model',
  'dtype',
  'bf16Products',
  'strategy',
  'steps',
  'maxTokensInline',
  'maxTokensBlock',
  'threshold',
  'maxTokensPerStep',
  'blockLength',
  'inlineBlockLength',
  'kvCache',
  'cacheRefresh',
  'refreshRadius',
  'temperature',
  'topP',
  'seed',
  'languages',
  'holeMarkers',
  'contextTokens',
  'repairRounds',
  'minConfidence',
  'nextEditSuggestions',
  'backend',
  'endpoint',
  'api',
  'remoteModel',
  'apiKeyEnv',
  'requestTimeoutMs',
  'logLevel',
] as const;

export type ServerKey = (typeof SERVER_KEYS)[number];

/** What the server receives: every key, `null` where the server's "off" or "default" is `None`. */
export interface ServerSettings {
  model: string | null;
  dtype: string;
  bf16Products: boolean;
  strategy: string;
  steps: number | null;
  maxTokensInline: number;
  maxTokensBlock: number;
  threshold: number | null;
  maxTokensPerStep: number | null;
  blockLength: number | null;
  inlineBlockLength: number | null;
  kvCache: boolean;
  cacheRefresh: number | null;
  refreshRadius: number | null;
  temperature: number;
  topP: number;
  seed: number;
  languages: string[];
  holeMarkers: string[];
  contextTokens: number;
  repairRounds: number;
  minConfidence: number;
  nextEditSuggestions: boolean;
  backend: string;
  endpoint: string | null;
  api: string;
  remoteModel: string | null;
  apiKeyEnv: string | null;
  requestTimeoutMs: number;
  logLevel: string;
}

/** The server's defaults (`null` where VS Code's contributed default is a blank or `0`). */
export const SERVER_DEFAULTS: ServerSettings = {
  model: null,
  dtype: 'f32',
  bf16Products: true,
  strategy: 'maskgit_plus',
  steps: null,
  maxTokensInline: 24,
  maxTokensBlock: 64,
  threshold: 0.9,
  maxTokensPerStep: null,
  blockLength: 32,
  inlineBlockLength: 8,
  kvCache: true,
  cacheRefresh: 8,
  refreshRadius: 64,
  temperature: 0,
  topP: 1,
  seed: 0,
  languages: [],
  holeMarkers: [],
  contextTokens: 1024,
  repairRounds: 2,
  minConfidence: 0.7,
  nextEditSuggestions: true,
  backend: 'local',
  endpoint: null,
  api: 'fim',
  remoteModel: null,
  apiKeyEnv: null,
  requestTimeoutMs: 15000,
  logLevel: 'info',
};

/** Settings of the extension itself, never sent to the server. */
export const CLIENT_KEYS = [
  'serverPath',
  'inlineCompletion.enabled',
  'inlineCompletion.debounceMs',
  'nextEdit.debounceMs',
  'completionItems.enabled',
  'trace.server',
] as const;

/** Keys whose change makes the server load its model again. */
export const RELOAD_KEYS: readonly ServerKey[] = [
  'model',
  'dtype',
  'bf16Products',
];

/** Keys whose change needs a new server process rather than didChangeConfiguration. */
export const RESTART_KEYS = [
  'logLevel',
  'serverPath',
] as const;

/** Keys whose `null` the settings UI cannot write: `0` stands for it. */
export const ZERO_MEANS_NULL: readonly ServerKey[] = [
  'steps',
  'maxTokensPerStep',
  'blockLength',
  'inlineBlockLength',
  'cacheRefresh',
  'refreshRadius',
];

/** Keys whose blank value (a cleared field of the settings UI) means `null`. */
export const BLANK_MEANS_NULL: readonly ServerKey[] = [
  'model',
  'threshold',
  'endpoint',
  'remoteModel',
  'apiKeyEnv',
];

/** The LSP language ids the server serves (grammars/src/language.rs). */
export const LANGUAGE_IDS = [
  'rust',
  'python',
  'javascript',
  'javascriptreact',
  'typescript',
  'typescriptreact',
  'go',
] as const;
