// What the status bar item says: the server's model state (from window/workDoneProgress and
// `dllm.status`), whether a request is running, and the last inline completion's time.
// No `vscode` import: the extension renders `view()`, the tests check it.

import { describeLoadingProgress, type ModelState } from './protocol';

export type Phase = 'stopped' | 'starting' | 'loading' | 'ready' | 'failed' | 'no_model';

/** `$/progress` values (LSP WorkDoneProgressBegin/Report/End), as far as they matter here. */
export interface ProgressValue {
  kind: 'begin' | 'report' | 'end';
  title?: string;
  message?: string;
  percentage?: number;
}

export interface StatusView {
  /** With VS Code's `$(icon)` syntax. */
  text: string;
  tooltip: string;
  /** 'error' and 'warning' colour the item. */
  severity: 'normal' | 'warning' | 'error';
}

export class StatusModel {
  phase: Phase = 'stopped';
  /** The model's description, or the loading message. */
  detail = '';
  /** How far the load has got, in percent (undefined: not reported). */
  percent: number | undefined;
  /** In-flight requests (inline completions, commands, code action resolves). */
  busy = 0;
  /** The last inline completion's round trip, ms (undefined: none yet). */
  lastMs: number | undefined;
  /** `dllm.status`'s `nextEdit` (undefined: the server did not say). */
  nextEdit: boolean | undefined;

  starting(): void {
    this.phase = 'starting';
    this.detail = '';
    this.percent = undefined;
    this.busy = 0;
  }

  stopped(why = ''): void {
    this.phase = 'stopped';
    this.detail = why;
    this.busy = 0;
  }

  /** A `$/progress` value from the server's model load. */
  progress(value: ProgressValue): void {
    const message = value.message ?? '';
    if (value.kind === 'begin' || value.kind === 'report') {
      this.phase = 'loading';
      if (message) {
        this.detail = message;
      }
      this.percent = value.percentage ?? this.percent;
    } else if (message.startsWith('ready')) {
      this.phase = 'ready';
      this.percent = undefined;
      this.detail = message.replace(/^ready:?\s*/, '');
    } else {
      this.phase = 'failed';
      this.percent = undefined;
      this.detail = message || 'the model failed to load';
    }
  }

  /** The answer of `dllm.status`: the authority, asked after start and after every load. */
  modelState(s: ModelState): void {
    switch (s.state) {
      case 'ready':
        this.phase = 'ready';
        this.percent = undefined;
      this.percent = undefined;
        this.detail = s.model;
        break;
      case 'loading': {
        this.phase = 'loading';
        const what = s.model ? `loading ${s.model}` : 'loading';
        this.detail = s.progress ? `${what}: ${describeLoadingProgress(s.progress)}` : what;
        this.percent = s.progress?.percent ?? this.percent;
        break;
      }
      case 'failed':
        this.phase = 'failed';
        this.percent = undefined;
      this.percent = undefined;
        this.detail = s.error;
        break;
      case 'not_loaded':
        this.phase = 'no_model';
        this.detail = '';
        break;
      default:
        break;
    }
  }

  nextEditEnabled(on: boolean | undefined): void {
    this.nextEdit = on;
  }

  begin(): void {
    this.busy += 1;
  }

  /** A request finished; `inlineMs` when it was an inline completion that offered an item. */
  end(inlineMs?: number): void {
    this.busy = Math.max(0, this.busy - 1);
    if (inlineMs !== undefined) {
      this.lastMs = Math.round(inlineMs);
    }
  }

  /** Whether the model is still loading (or about to): the extension keeps asking `dllm.status`. */
  settling(): boolean {
    return this.phase === 'starting' || this.phase === 'loading';
  }

  view(): StatusView {
    const last = this.lastMs === undefined ? '' : ` ${this.lastMs} ms`;
    const lastLine =
      this.lastMs === undefined
        ? 'No inline completion yet.'
        : `Last inline completion: ${this.lastMs} ms.`;
    const nextEdit =
      this.nextEdit === undefined ? '' : `\nNext-edit suggestions: ${this.nextEdit ? 'on' : 'off (dllm.nextEditSuggestions)'}.`;
    const click = 'Click for the log, restart and settings.';
    switch (this.phase) {
      case 'stopped':
        return {
          text: '$(circle-slash) dllm',
          tooltip: `dllm-ls is not running${this.detail ? `: ${this.detail}` : '.'}\n${click}`,
          severity: this.detail ? 'error' : 'normal',
        };
      case 'starting':
        return { text: '$(loading~spin) dllm', tooltip: `dllm-ls is starting.\n${click}`, severity: 'normal' };
      case 'loading':
        return {
          text: `$(loading~spin) dllm: loading${this.percent === undefined ? '' : ` ${this.percent}%`}`,
          tooltip: `dllm-ls: ${this.detail || 'loading the model'}…\n${click}`,
          severity: 'normal',
        };
      case 'failed':
        return {
          text: '$(error) dllm: no model',
          tooltip: `dllm-ls: the model failed to load: ${this.detail}\nSet dllm.model to a checkpoint directory. ${click}`,
          severity: 'error',
        };
      case 'no_model':
        return {
          text: '$(circle-outline) dllm: no model',
          tooltip: `dllm-ls: no model loaded. Set dllm.model to a checkpoint directory.\n${click}`,
          severity: 'warning',
        };
      case 'ready':
        return this.busy > 0
          ? { text: `$(sync~spin) dllm${last}`, tooltip: `dllm-ls: working… (${this.detail})\n${lastLine}${nextEdit}\n${click}`, severity: 'normal' }
          : { text: `$(check) dllm${last}`, tooltip: `dllm-ls: ready (${this.detail})\n${lastLine}${nextEdit}\n${click}`, severity: 'normal' };
    }
  }
}
