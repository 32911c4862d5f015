// VS Code settings (`dllm.*`) -> the server's configuration object (server/src/config/).
// No `vscode` import: the extension passes a getter, the tests a plain object.
// The keys, types and defaults are generated from the server's settings table into
// settings.generated.ts; what is here is what the table cannot say (normalising editor input).

import * as os from 'node:os';

import {
  BLANK_MEANS_NULL,
  RESTART_KEYS,
  SERVER_DEFAULTS,
  SERVER_KEYS,
  ServerKey,
  ServerSettings,
  ZERO_MEANS_NULL,
} from './settings.generated';

export {
  CLIENT_KEYS,
  LANGUAGE_IDS,
  RELOAD_KEYS,
  RESTART_KEYS,
  SERVER_DEFAULTS,
  SERVER_KEYS,
} from './settings.generated';
export type { ServerKey, ServerSettings } from './settings.generated';

/** Reads one setting below `dllm.`; `undefined` when unset (the default then applies). */
export type SettingGetter = (key: string) => unknown;

/** A blank string (what the settings UI leaves when a field is cleared) means "not set". */
function blankToNull(v: unknown): unknown {
  return typeof v === 'string' && v.trim() === '' ? null : v;
}

/** `0` reads as "off" (the server's `None`) where the settings UI cannot write null. */
function zeroToNull(v: unknown): unknown {
  return v === 0 ? null : v;
}

const normalize: Partial<Record<ServerKey, (v: unknown) => unknown>> = {
  ...Object.fromEntries(ZERO_MEANS_NULL.map((k) => [k, zeroToNull])),
  ...Object.fromEntries(BLANK_MEANS_NULL.map((k) => [k, blankToNull])),
  model: (v) => {
    const m = blankToNull(v);
    return typeof m === 'string' ? expandHome(m.trim()) : m;
  },
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
