// The dllm-ls protocol as the extension speaks it: command names and arguments
// (generated from server/src/lsp/command.rs), request parameters, and reading the server's answers.
// No `vscode` import: the integration test drives the real server with these same helpers.

import type {
  CodeActionParams,
  DidChangeConfigurationParams,
  ExecuteCommandParams,
  InlineCompletionParams,
  Position,
  Range,
} from 'vscode-languageserver-protocol';

import { COMMANDS, LOADING_PHASES } from './protocol.generated';
import { LANGUAGE_IDS } from './settings.generated';

/** Commands the server implements (`workspace/executeCommand`). */
export const SERVER_COMMANDS = COMMANDS;

/**
 * The extension's own commands (palette and context menu). They cannot reuse the server's names:
 * vscode-languageclient registers every command the server advertises under its own name.
 */
export const EXTENSION_COMMANDS = {
  rewriteSelection: 'dllm.rewriteSelection',
  fillHoles: 'dllm.fillHolesAtCursor',
  completeBlock: 'dllm.completeBlockAtCursor',
  restartServer: 'dllm.restartServer',
  showLog: 'dllm.showLog',
  statusMenu: 'dllm.statusMenu',
  acceptNextEdit: 'dllm.acceptNextEdit',
  dismissNextEdit: 'dllm.dismissNextEdit',
} as const;

/** The context key that is set while a next-edit suggestion shows: Tab accepts, Escape dismisses. */
export const NEXT_EDIT_CONTEXT = 'dllm.nextEditVisible';

/** The languages the server serves (grammars/, through the generated settings); the document selector. */
export const LANGUAGES = LANGUAGE_IDS;


/** `dllm.rewrite {uri, range, instruction?}`; a blank instruction is left out. */
export function rewriteParams(uri: string, range: Range, instruction?: string): ExecuteCommandParams {
  const arg: { uri: string; range: Range; instruction?: string } = { uri, range: plainRange(range) };
  const text = instruction?.trim();
  if (text) {
    arg.instruction = text;
  }
  return { command: SERVER_COMMANDS.rewrite, arguments: [arg] };
}

/** `dllm.fillHoles {uri, position?}`: the function around `position`, or the whole file. */
export function fillHolesParams(uri: string, position?: Position): ExecuteCommandParams {
  return {
    command: SERVER_COMMANDS.fillHoles,
    arguments: [position ? { uri, position: plainPosition(position) } : { uri }],
  };
}

/** `dllm.completeBlock {uri, position}`. */
export function completeBlockParams(uri: string, position: Position): ExecuteCommandParams {
  return { command: SERVER_COMMANDS.completeBlock, arguments: [{ uri, position: plainPosition(position) }] };
}

export function statusParams(): ExecuteCommandParams {
  return { command: SERVER_COMMANDS.status, arguments: [] };
}

/** `workspace/didChangeConfiguration`: the server accepts the keys under `dllm`. */
export function configurationChangeParams(settings: object): DidChangeConfigurationParams {
  return { settings: { dllm: settings } };
}

/**
 * `textDocument/inlineCompletion` as vscode-languageclient 9 sends it (its trigger kinds are
 * VS Code's: 0 invoked, 1 automatic). `selectedCompletionInfo` is never sent: see inline.ts.
 */
export function inlineCompletionParams(uri: string, position: Position, triggerKind: 0 | 1): InlineCompletionParams {
  return { textDocument: { uri }, position: plainPosition(position), context: { triggerKind } };
}

export function codeActionParams(uri: string, range: Range): CodeActionParams {
  return { textDocument: { uri }, range: plainRange(range), context: { diagnostics: [] } };
}

/** What the executeCommand handlers answer: `{applied, notes}` (actions.rs `execute`). */
export interface CommandResult {
  applied: boolean;
  notes: string[];
}

export function parseCommandResult(value: unknown): CommandResult {
  if (value && typeof value === 'object') {
    const v = value as { applied?: unknown; notes?: unknown };
    const notes = Array.isArray(v.notes) ? v.notes.filter((n): n is string => typeof n === 'string') : [];
    return { applied: v.applied === true, notes };
  }
  return { applied: false, notes: [] };
}

export type MessageLevel = 'info' | 'warning' | 'error';

/**
 * What to tell the user after a command. The server has already applied the edit through
 * `workspace/applyEdit` when `applied` is true; notes (an ignored instruction, a hole left empty)
 * are worth showing either way. `undefined`: nothing to say.
 */
export function describeCommandResult(title: string, result: CommandResult): { level: MessageLevel; text: string } | undefined {
  const notes = result.notes.filter((n) => n.trim() !== '');
  if (result.applied) {
    return notes.length ? { level: 'info', text: `dllm: ${title}: ${notes.join('; ')}` } : undefined;
  }
  const why = notes.length ? notes.join('; ') : 'the edit was not applied (the document changed meanwhile?)';
  return { level: 'warning', text: `dllm: ${title}: nothing changed: ${why}` };
}

/** JSON-RPC error codes worth telling apart (LSP spec). */
export const ERROR_CODES = {
  invalidParams: -32602,
  requestCancelled: -32800,
  contentModified: -32801,
  requestFailed: -32803,
} as const;

/** A failed request, as a sentence for the user. */
export function describeError(title: string, error: unknown): { level: MessageLevel; text: string } {
  const e = (error ?? {}) as { code?: unknown; message?: unknown; name?: unknown };
  const message = typeof e.message === 'string' ? e.message : String(error);
  if (e.code === ERROR_CODES.requestCancelled || e.code === ERROR_CODES.contentModified || e.name === 'Canceled') {
    return { level: 'info', text: `dllm: ${title} was cancelled (the document changed, or it was stopped).` };
  }
  const text = message.startsWith('dllm') ? message : `dllm: ${title} failed: ${message}`;
  return { level: e.code === ERROR_CODES.requestFailed ? 'warning' : 'error', text };
}

/** `dllm.status`: `{state: not_loaded | loading | ready | failed, model?, error?}` (lsp/mod.rs). */
/** How far a load has got: `dllm.status` adds these fields to `loading` once the load reports. */
export interface LoadingProgress {
  phase: (typeof LOADING_PHASES)[number];
  percent: number;
  doneMb: number;
  totalMb: number;
  /** The file being downloaded. */
  file?: string;
}

export type ModelState =
  | { state: 'not_loaded' }
  | { state: 'loading'; model: string; progress?: LoadingProgress }
  | { state: 'ready'; model: string }
  | { state: 'failed'; error: string }
  | { state: 'unknown'; raw: unknown };

/** The progress fields of a `loading` status, when it has them. */
export function parseLoadingProgress(value: unknown): LoadingProgress | undefined {
  const v = (value ?? {}) as Record<string, unknown>;
  const phase = LOADING_PHASES.find((p) => p === v.phase);
  const num = (x: unknown) => (typeof x === 'number' && Number.isFinite(x) ? x : undefined);
  const [percent, doneMb, totalMb] = [num(v.percent), num(v.doneMb), num(v.totalMb)];
  if (phase === undefined || percent === undefined || doneMb === undefined || totalMb === undefined) {
    return undefined;
  }
  const progress: LoadingProgress = { phase, percent, doneMb, totalMb };
  if (typeof v.file === 'string') {
    progress.file = v.file;
  }
  return progress;
}

/** "downloading model.safetensors: 120 of 1261 MB (9%)". */
export function describeLoadingProgress(p: LoadingProgress): string {
  const what = p.phase === 'downloading' ? `downloading${p.file ? ` ${p.file}` : ''}` : 'reading the weights';
  return `${what}: ${p.doneMb} of ${p.totalMb} MB (${p.percent}%)`;
}

export function parseStatus(value: unknown): ModelState {
  const v = (value ?? {}) as { state?: unknown; model?: unknown; error?: unknown };
  const str = (x: unknown) => (typeof x === 'string' ? x : '');
  switch (v.state) {
    case 'not_loaded':
      return { state: 'not_loaded' };
    case 'loading': {
      const progress = parseLoadingProgress(value);
      return progress ? { state: 'loading', model: str(v.model), progress } : { state: 'loading', model: str(v.model) };
    }
    case 'ready':
      return { state: 'ready', model: str(v.model) };
    case 'failed':
      return { state: 'failed', error: str(v.error) };
    default:
      return { state: 'unknown', raw: value };
  }
}

/** `dllm.status`'s `nextEdit`: whether the server answers `dllm/nextEdit` (undefined: not said). */
export function parseNextEditEnabled(value: unknown): boolean | undefined {
  const v = (value ?? {}) as { nextEdit?: unknown };
  return typeof v.nextEdit === 'boolean' ? v.nextEdit : undefined;
}

/** Only `line` and `character`: VS Code's Position and Range objects carry more (and Range serialises as an array). */
export function plainPosition(p: Position): Position {
  return { line: p.line, character: p.character };
}

export function plainRange(r: Range): Range {
  return { start: plainPosition(r.start), end: plainPosition(r.end) };
}
