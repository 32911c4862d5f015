// Next-edit suggestions (`dllm/nextEdit`): the request, reading its answer, what to draw, and
// when to ask. No `vscode` import: nextEditView.ts draws and applies; the tests drive this with
// plain functions and the real server.
//
// The server answers `null` or `{uri, range, newText, version, label}`: replace `range` of the
// document at `version` with `newText`. A suggestion is only good for that version, so it is
// checked when it arrives and again when it is accepted, and any change of the document drops it.

import type { Pos, Rng } from './inline';

export const NEXT_EDIT_METHOD = 'dllm/nextEdit';

export interface NextEditParams {
  textDocument: { uri: string };
  position: Pos;
}

export interface NextEditSuggestion {
  uri: string;
  range: Rng;
  newText: string;
  version: number;
  label: string;
}

export function nextEditParams(uri: string, position: Pos): NextEditParams {
  return { textDocument: { uri }, position: { line: position.line, character: position.character } };
}

function isPos(v: unknown): v is Pos {
  const p = v as Pos | null;
  return !!p && Number.isInteger(p.line) && Number.isInteger(p.character) && p.line >= 0 && p.character >= 0;
}

function isRange(v: unknown): v is Rng {
  const r = v as Rng | null;
  return !!r && isPos(r.start) && isPos(r.end) && !isBefore(r.end, r.start);
}

function isBefore(a: Pos, b: Pos): boolean {
  return a.line < b.line || (a.line === b.line && a.character < b.character);
}

/** The server's answer as a suggestion; `undefined` for `null` and for anything malformed. */
export function parseNextEdit(value: unknown): NextEditSuggestion | undefined {
  if (!value || typeof value !== 'object') {
    return undefined;
  }
  const v = value as Record<string, unknown>;
  if (typeof v.uri !== 'string' || typeof v.newText !== 'string' || !Number.isInteger(v.version) || !isRange(v.range)) {
    return undefined;
  }
  const { start, end } = v.range;
  return {
    uri: v.uri,
    range: { start: { line: start.line, character: start.character }, end: { line: end.line, character: end.character } },
    newText: v.newText,
    version: v.version as number,
    label: typeof v.label === 'string' ? v.label : '',
  };
}

/** Where the cursor goes once the suggestion is applied: the end of the new text. */
export function endOfEdit(s: Pick<NextEditSuggestion, 'range' | 'newText'>): Pos {
  const lines = s.newText.split('\n');
  const last = lines[lines.length - 1];
  return lines.length === 1
    ? { line: s.range.start.line, character: s.range.start.character + last.length }
    : { line: s.range.start.line + lines.length - 1, character: last.length };
}

/**
 * How a suggestion is drawn: the text it replaces struck through (`removed`, absent for a pure
 * insertion), the new text beside it (after `at`), and a hover line.
 */
export interface NextEditPreview {
  removed?: Rng;
  at: Pos;
  /** One line: a multi-line new text shows its line breaks as ⏎. */
  inserted: string;
  hover: string;
}

export function preview(s: NextEditSuggestion, acceptKey = 'Tab', dismissKey = 'Escape'): NextEditPreview {
  const empty = s.range.start.line === s.range.end.line && s.range.start.character === s.range.end.character;
  const what = s.label || (empty ? `insert \`${s.newText}\`` : `replace with \`${s.newText}\``);
  const out: NextEditPreview = {
    at: s.range.end,
    inserted: s.newText.replace(/\r?\n/g, ' ⏎ '),
    hover: `dllm next edit: ${what}. ${acceptKey}: accept; ${dismissKey}: dismiss.`,
  };
  if (!empty) {
    out.removed = s.range;
  }
  return out;
}

/** What the scheduler needs from the editor; nextEditView.ts implements it with VS Code. */
export interface NextEditHost {
  /** Wait this long after the last change before asking. */
  debounceMs(): number;
  /** Whether to ask at all (`dllm.nextEditSuggestions`, a running server, a served document). */
  enabled(uri: string): boolean;
  /** The document's current version, `undefined` when it is closed. */
  version(uri: string): number | undefined;
  /** Sends `dllm/nextEdit` at the cursor of the document's editor; the signal cancels it. */
  ask(uri: string, signal: AbortSignal): Promise<unknown>;
  show(s: NextEditSuggestion): void;
  hide(s: NextEditSuggestion): void;
  log(line: string): void;
}

/**
 * When to ask and which suggestion is shown: one timer and one request at a time. A change to a
 * document drops its suggestion, cancels the request in flight and restarts the timer; an answer
 * is shown only if no change came meanwhile and its version is the document's.
 */
export class NextEditScheduler {
  private timer: ReturnType<typeof setTimeout> | undefined;
  private inFlight: AbortController | undefined;
  private shown: NextEditSuggestion | undefined;
  /** Counts changes: an answer to an older generation is stale. */
  private generation = 0;

  constructor(private readonly host: NextEditHost) {}

  get current(): NextEditSuggestion | undefined {
    return this.shown;
  }

  /** The user (or an accepted suggestion) changed `uri`: ask again after the pause. */
  changed(uri: string): void {
    this.generation += 1;
    this.stopAsking();
    if (this.shown?.uri === uri) {
      this.dismiss();
    }
    if (!this.host.enabled(uri)) {
      return;
    }
    const generation = this.generation;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.ask(uri, generation);
    }, Math.max(0, this.host.debounceMs()));
  }

  /** The suggestion to apply, if it still fits its document; otherwise it is dropped. */
  take(): NextEditSuggestion | undefined {
    const s = this.shown;
    if (!s) {
      return undefined;
    }
    this.dismiss();
    if (this.host.version(s.uri) !== s.version) {
      this.host.log(`next edit dropped: the document is at version ${this.host.version(s.uri)}, the edit was for ${s.version}`);
      return undefined;
    }
    return s;
  }

  dismiss(): void {
    const s = this.shown;
    this.shown = undefined;
    if (s) {
      this.host.hide(s);
    }
  }

  /** Stops the timer and any request, and hides the suggestion (the server went, the editor closed). */
  reset(): void {
    this.generation += 1;
    this.stopAsking();
    this.dismiss();
  }

  private stopAsking(): void {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    this.inFlight?.abort();
    this.inFlight = undefined;
  }

  private async ask(uri: string, generation: number): Promise<void> {
    const controller = new AbortController();
    this.inFlight = controller;
    let answer: unknown;
    try {
      answer = await this.host.ask(uri, controller.signal);
    } catch (e) {
      if (!controller.signal.aborted) {
        this.host.log(`dllm/nextEdit failed: ${String(e)}`);
      }
      return;
    } finally {
      if (this.inFlight === controller) {
        this.inFlight = undefined;
      }
    }
    if (generation !== this.generation || controller.signal.aborted) {
      return;
    }
    const parsed = parseNextEdit(answer);
    if (!parsed) {
      return;
    }
    // The server writes the uri back in its own spelling; the document is the one asked about.
    const s = { ...parsed, uri };
    if (this.host.version(uri) !== s.version) {
      this.host.log(`next edit dropped on arrival: for version ${s.version}, the document is at ${this.host.version(uri)}`);
      return;
    }
    this.dismiss();
    this.shown = s;
    this.host.show(s);
  }
}
