// Finding the dllm-ls binary: `dllm.serverPath` when set, else `dllm-ls` on PATH.
// No `vscode` import, so the tests run it on the real binary.

import * as fs from 'node:fs';
import * as path from 'node:path';

import { expandHome } from './settings';

export const SERVER_NAME = 'dllm-ls';

/** The install step the error message points to (also in this extension's README). */
export const INSTALL_HINT =
  'build it with `cargo install --path server` in the dllm-ls repository (puts dllm-ls on PATH), ' +
  'or set `dllm.serverPath` to the binary';

export type Resolution =
  | { ok: true; path: string; source: 'setting' | 'PATH' }
  | { ok: false; message: string };

export interface LookupEnv {
  /** `dllm.serverPath` (may be empty). */
  configured?: string;
  /** The PATH variable. */
  pathVar?: string;
  /** PATHEXT on Windows. */
  pathExt?: string;
  platform?: NodeJS.Platform;
  /** For relative `dllm.serverPath` values: the first workspace folder. */
  workspaceFolder?: string;
  home?: string;
  /** Replaceable for tests. */
  isExecutable?: (file: string) => boolean;
}

export function isExecutableFile(file: string, platform: NodeJS.Platform = process.platform): boolean {
  try {
    const st = fs.statSync(file);
    if (!st.isFile()) {
      return false;
    }
    if (platform === 'win32') {
      return true;
    }
    fs.accessSync(file, fs.constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** Every candidate file name for `name` in one directory (Windows adds the PATHEXT endings). */
function candidates(dir: string, name: string, platform: NodeJS.Platform, pathExt: string | undefined): string[] {
  const p = platform === 'win32' ? path.win32 : path.posix;
  if (platform !== 'win32') {
    return [p.join(dir, name)];
  }
  const exts = (pathExt ?? '.EXE;.CMD;.BAT;.COM').split(';').filter((e) => e !== '');
  return [p.join(dir, name), ...exts.map((e) => p.join(dir, name + e.toLowerCase()))];
}

/** Looks `name` up in PATH like a shell: the first executable match wins. */
export function whichSync(name: string, env: LookupEnv = {}): string | undefined {
  const platform = env.platform ?? process.platform;
  const isExec = env.isExecutable ?? ((f: string) => isExecutableFile(f, platform));
  const sep = platform === 'win32' ? ';' : ':';
  for (const dir of (env.pathVar ?? '').split(sep)) {
    if (dir === '') {
      continue;
    }
    for (const file of candidates(dir, name, platform, env.pathExt)) {
      if (isExec(file)) {
        return file;
      }
    }
  }
  return undefined;
}

/** Where the server binary is, or a message that says what is wrong and how to fix it. */
export function resolveServerPath(env: LookupEnv): Resolution {
  const platform = env.platform ?? process.platform;
  const isExec = env.isExecutable ?? ((f: string) => isExecutableFile(f, platform));
  const configured = (env.configured ?? '').trim();
  if (configured !== '') {
    const p = platform === 'win32' ? path.win32 : path.posix;
    let file = expandHome(configured, env.home);
    if (!p.isAbsolute(file) && (file.includes('/') || file.includes('\\'))) {
      // A relative path: from the workspace folder.
      if (env.workspaceFolder) {
        file = p.resolve(env.workspaceFolder, file);
      }
    } else if (!p.isAbsolute(file)) {
      // A bare name: look it up on PATH.
      const found = whichSync(file, { ...env, platform, isExecutable: isExec });
      if (found) {
        return { ok: true, path: found, source: 'setting' };
      }
      return {
        ok: false,
        message: `dllm: \`dllm.serverPath\` is "${configured}", which is not found on PATH; ${INSTALL_HINT}.`,
      };
    }
    if (isExec(file)) {
      return { ok: true, path: file, source: 'setting' };
    }
    return {
      ok: false,
      message: `dllm: \`dllm.serverPath\` is "${configured}", but ${file} is not an executable file; ${INSTALL_HINT}.`,
    };
  }
  const found = whichSync(SERVER_NAME, { ...env, platform, isExecutable: isExec });
  if (found) {
    return { ok: true, path: found, source: 'PATH' };
  }
  return {
    ok: false,
    message: `dllm: the language server \`${SERVER_NAME}\` was not found on PATH; ${INSTALL_HINT}.`,
  };
}

/** How the extension starts the server (the tests start it the same way). */
export interface Launch {
  command: string;
  args: string[];
  env: Record<string, string>;
}

export function serverLaunch(binary: string, env: Record<string, string>): Launch {
  return { command: binary, args: ['--stdio'], env };
}
