// VS Code settings (`dllm.*`) -> the server's configuration object (server/src/config.rs).
// No `vscode` import: the extension passes a getter, the tests a plain object.

import * as os from 'node:os';

/** The server's keys, exactly as `KEYS` in server/src/config.rs (a test checks they agree). */
export const SERVER_KEYS = [
  'model',
  'dtype',
  'bf16Products',
  'strategy',
  'steps',
  'maxTokensInline',
  'maxTokensBlock',
  'threshold',
  'blockLength',
  'inlineBlockLength',
  'kvCache',
  'cacheRefresh',
  'refreshRadius',
  'maxTokensPerStep',
  'temperature',
  'topP',
  'seed',
  'languages',
  'holeMarkers',
  'contextTokens',
  'repairRounds',
  'logLevel',
] as const;

export type ServerKey = (typeof SERVER_KEYS)[number];

/** What the server receives: every key, `null` where the server's "off"/"default" is `None`. */
export interface ServerSettings {
  model: string | null;
  dtype: 'f32' | 'bf16';
  bf16Products: boolean;
  strategy: string;
  steps: number | null;
  maxTokensInline: number;
  maxTokensBlock: number;
  threshold: number | null;
  blockLength: number | null;
  inlineBlockLength: number | null;
  kvCache: boolean;
  cacheRefresh: number | null;
  refreshRadius: number | null;
  maxTokensPerStep: number | null;
  temperature: number;
  topP: number;
  seed: number;
  languages: string[];
  holeMarkers: string[];
  contextTokens: number;
  repairRounds: number;
  logLevel: string;
}

/** The server's defaults (server/src/config.rs `Config::default`), also the contributed defaults. */
export const SERVER_DEFAULTS: ServerSettings = {
  model: null,
  dtype: 'f32',
  bf16Products: true,
  strategy: 'maskgit_plus',
  steps: null,
  maxTokensInline: 24,
  maxTokensBlock: 64,
  threshold: 0.9,
  blockLength: 32,
  inlineBlockLength: 8,
  kvCache: true,
  cacheRefresh: 8,
  refreshRadius: 64,
  maxTokensPerStep: null,
  temperature: 0,
  topP: 1,
  seed: 0,
  languages: [],
  holeMarkers: [],
  contextTokens: 1024,
  repairRounds: 2,
  logLevel: 'info',
};

/** Settings of the extension itself, never sent to the server. */
export const CLIENT_KEYS = [
  'serverPath',
  'inlineCompletion.enabled',
  'inlineCompletion.debounceMs',
  'completionItems.enabled',
  'trace.server',
] as const;

/** Settings whose change needs a new server process rather than didChangeConfiguration. */
export const RESTART_KEYS = ['serverPath', 'logLevel'] as const;

/** Reads one setting below `dllm.`; `undefined` when unset (the default then applies). */
export type SettingGetter = (key: string) => unknown;

/** A blank string (what the settings UI leaves when a field is cleared) means "not set". */
function blankToNull(v: unknown): unknown {
  return typeof v === 'string' && v.trim() === '' ? null : v;
}

/** `0` for steps/blockLength/inlineBlockLength reads as "off" (the server's `None`): the settings UI cannot write null. */
function zeroToNull(v: unknown): unknown {
  return v === 0 ? null : v;
}

const normalize: Partial<Record<ServerKey, (v: unknown) => unknown>> = {
  model: (v) => {
    const m = blankToNull(v);
    return typeof m === 'string' ? expandHome(m.trim()) : m;
  },
  steps: zeroToNull,
  blockLength: zeroToNull,
  inlineBlockLength: zeroToNull,
  cacheRefresh: zeroToNull,
  refreshRadius: zeroToNull,
  maxTokensPerStep: zeroToNull,
  threshold: blankToNull,
};

/** `~` and `~/...` in a path, as a shell would expand them. */
export function expandHome(path: string, home: string = os.homedir()): string {
  if (path === '~' || path.startsWith('~/')) {
    return home + path.slice(1);
  }
  return path;
}

/**
 * The configuration object sent as `initializationOptions` and in
 * `workspace/didChangeConfiguration` (under `dllm`). Every key is sent, so a setting removed by
 * the user returns the server to its default. Values are passed through as the user wrote them
 * apart from the normalisations above: the server validates each key and warns about bad ones.
 */
export function toServerSettings(get: SettingGetter): ServerSettings {
  const out: Record<string, unknown> = {};
  for (const key of SERVER_KEYS) {
    const raw = get(key);
    const value = raw === undefined ? SERVER_DEFAULTS[key] : raw;
    const fix = normalize[key];
    out[key] = fix ? fix(value) : value;
  }
  return out as unknown as ServerSettings;
}

/** The keys (server and client) that a configuration change touched. */
export function affectedKeys(
  affects: (section: string) => boolean,
): { server: ServerKey[]; restart: string[] } {
  return {
    server: SERVER_KEYS.filter((k) => affects(`dllm.${k}`)),
    restart: RESTART_KEYS.filter((k) => affects(`dllm.${k}`)),
  };
}

/**
 * The environment of the server process: the server reads its log level from `DLLM_LOG` at start
 * (an env-filter directive that wins, as in the server, when the user already set one).
 */
export function serverEnv(
  base: Record<string, string | undefined>,
  settings: Pick<ServerSettings, 'logLevel'>,
): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(base)) {
    if (v !== undefined) {
      env[k] = v;
    }
  }
  if (!env.DLLM_LOG && typeof settings.logLevel === 'string' && settings.logLevel !== '') {
    env.DLLM_LOG = settings.logLevel;
  }
  return env;
}
