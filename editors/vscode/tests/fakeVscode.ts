// A small stand-in for the `vscode` module, enough to load the extension's bundle
// (dist/extension.js, vscode-languageclient included), activate it, and drive it against the real
// server: documents, edits, configuration, commands, messages, the status bar, inline completion
// providers. What the extension or the client touches without mattering here (diagnostics,
// notebooks, file watchers, …) is answered by inert stubs.

import Module from 'node:module';
import * as path from 'node:path';

/* eslint-disable @typescript-eslint/no-explicit-any */

export class Position {
  constructor(
    readonly line: number,
    readonly character: number,
  ) {}
  isBefore(o: Position): boolean {
    return this.line < o.line || (this.line === o.line && this.character < o.character);
  }
  isBeforeOrEqual(o: Position): boolean {
    return this.isBefore(o) || this.isEqual(o);
  }
  isAfter(o: Position): boolean {
    return !this.isBeforeOrEqual(o);
  }
  isAfterOrEqual(o: Position): boolean {
    return !this.isBefore(o);
  }
  isEqual(o: Position): boolean {
    return this.line === o.line && this.character === o.character;
  }
  compareTo(o: Position): number {
    return this.isBefore(o) ? -1 : this.isEqual(o) ? 0 : 1;
  }
  translate(lineDelta = 0, characterDelta = 0): Position {
    return new Position(this.line + lineDelta, this.character + characterDelta);
  }
  with(line = this.line, character = this.character): Position {
    return new Position(line, character);
  }
}

export class Range {
  readonly start: Position;
  readonly end: Position;
  constructor(a: Position | number, b: Position | number, c?: number, d?: number) {
    if (typeof a === 'number') {
      this.start = new Position(a, b as number);
      this.end = new Position(c!, d!);
    } else {
      this.start = a;
      this.end = b as Position;
    }
  }
  get isEmpty(): boolean {
    return this.start.isEqual(this.end);
  }
  get isSingleLine(): boolean {
    return this.start.line === this.end.line;
  }
  contains(p: Position): boolean {
    return !p.isBefore(this.start) && !this.end.isBefore(p);
  }
  /** As VS Code's Range: serialises as [start, end]. */
  toJSON(): unknown {
    return [this.start, this.end];
  }
}

export class Selection extends Range {
  constructor(
    readonly anchor: Position,
    readonly active: Position,
  ) {
    super(anchor.isBefore(active) ? anchor : active, anchor.isBefore(active) ? active : anchor);
  }
}

export class Uri {
  private constructor(private readonly value: string) {}
  static parse(value: string): Uri {
    return new Uri(value);
  }
  static file(p: string): Uri {
    return new Uri(`file://${p}`);
  }
  static joinPath(base: Uri, ...parts: string[]): Uri {
    return new Uri([base.value.replace(/\/$/, ''), ...parts].join('/'));
  }
  get scheme(): string {
    return this.value.slice(0, this.value.indexOf(':'));
  }
  get path(): string {
    return this.value.replace(/^[a-z]+:\/\//, '');
  }
  get fsPath(): string {
    return this.path;
  }
  toString(): string {
    return this.value;
  }
  toJSON(): unknown {
    return this.value;
  }
  with(): Uri {
    return this;
  }
}

export class EventEmitter<T> {
  private listeners: ((e: T) => unknown)[] = [];
  event = (listener: (e: T) => unknown, thisArg?: unknown, disposables?: { dispose(): void }[]) => {
    const bound = (e: T) => listener.call(thisArg, e);
    this.listeners.push(bound);
    const d = { dispose: () => (this.listeners = this.listeners.filter((l) => l !== bound)) };
    disposables?.push(d);
    return d;
  };
  fire(e: T): void {
    [...this.listeners].forEach((l) => l(e));
  }
  dispose(): void {
    this.listeners = [];
  }
}

export class Disposable {
  constructor(private readonly fn: () => void) {}
  static from(...ds: { dispose(): unknown }[]): Disposable {
    return new Disposable(() => ds.forEach((d) => d.dispose()));
  }
  dispose(): void {
    this.fn();
  }
}

export class CancellationTokenSource {
  private emitter = new EventEmitter<void>();
  token = { isCancellationRequested: false, onCancellationRequested: this.emitter.event };
  cancel(): void {
    if (!this.token.isCancellationRequested) {
      this.token.isCancellationRequested = true;
      this.emitter.fire();
    }
  }
  dispose(): void {
    this.emitter.dispose();
  }
}

export class InlineCompletionItem {
  constructor(
    public insertText: string | { value: string },
    public range?: Range,
    public command?: unknown,
  ) {}
}

export class InlineCompletionList {
  constructor(public items: InlineCompletionItem[]) {}
}

export class TextEdit {
  constructor(
    public range: Range,
    public newText: string,
  ) {}
  static replace(range: Range, newText: string): TextEdit {
    return new TextEdit(range, newText);
  }
}

export class WorkspaceEdit {
  readonly byUri = new Map<string, { uri: Uri; edits: TextEdit[] }>();
  replace(uri: Uri, range: Range, newText: string): void {
    const key = uri.toString();
    if (!this.byUri.has(key)) {
      this.byUri.set(key, { uri, edits: [] });
    }
    this.byUri.get(key)!.edits.push(new TextEdit(range, newText));
  }
  insert(uri: Uri, position: Position, newText: string): void {
    this.replace(uri, new Range(position, position), newText);
  }
  set(uri: Uri, edits: TextEdit[]): void {
    this.byUri.set(uri.toString(), { uri, edits: [...edits] });
  }
  get size(): number {
    return this.byUri.size;
  }
  entries(): [Uri, TextEdit[]][] {
    return [...this.byUri.values()].map((e) => [e.uri, e.edits]);
  }
}

export class CodeActionKind {
  constructor(readonly value: string) {}
  static readonly Empty = new CodeActionKind('');
  static readonly QuickFix = new CodeActionKind('quickfix');
  static readonly Refactor = new CodeActionKind('refactor');
  static readonly RefactorRewrite = new CodeActionKind('refactor.rewrite');
  append(part: string): CodeActionKind {
    return new CodeActionKind(this.value ? `${this.value}.${part}` : part);
  }
  contains(other: CodeActionKind): boolean {
    return other.value === this.value || other.value.startsWith(`${this.value}.`);
  }
}

export class CodeAction {
  kind?: CodeActionKind;
  edit?: WorkspaceEdit;
  constructor(
    public title: string,
    kind?: CodeActionKind,
  ) {
    this.kind = kind;
  }
}

export class FakeDocument {
  version = 1;
  isClosed = false;
  isDirty = false;
  isUntitled = false;
  eol = 1;
  constructor(
    readonly uri: Uri,
    readonly languageId: string,
    public text: string,
  ) {}
  get fileName(): string {
    return this.uri.fsPath;
  }
  get lineCount(): number {
    return this.text.split('\n').length;
  }
  getText(range?: Range): string {
    return range ? this.text.slice(this.offsetAt(range.start), this.offsetAt(range.end)) : this.text;
  }
  lineAt(lineOrPos: number | Position): { text: string; lineNumber: number } {
    const line = typeof lineOrPos === 'number' ? lineOrPos : lineOrPos.line;
    return { text: this.text.split('\n')[line] ?? '', lineNumber: line };
  }
  offsetAt(p: Position): number {
    const lines = this.text.split('\n');
    let offset = 0;
    for (let i = 0; i < p.line && i < lines.length; i++) {
      offset += lines[i].length + 1;
    }
    return Math.min(offset + Math.min(p.character, (lines[p.line] ?? '').length), this.text.length);
  }
  positionAt(offset: number): Position {
    const before = this.text.slice(0, offset).split('\n');
    return new Position(before.length - 1, before[before.length - 1].length);
  }
  save(): Promise<boolean> {
    return Promise.resolve(true);
  }
}

/** A decoration type, as createTextEditorDecorationType returns it. */
export class FakeDecorationType {
  constructor(readonly options: any) {}
  dispose(): void {
    /* nothing to free */
  }
}

export class MarkdownString {
  constructor(readonly value = '') {}
}

/** A text editor: its document, selection, decorations, and edits applied as VS Code applies them. */
export class FakeEditor {
  readonly decorations = new Map<FakeDecorationType, any[]>();
  revealed: Range[] = [];
  constructor(
    private readonly fake: FakeVscode,
    readonly document: FakeDocument,
    public selection: Selection,
  ) {}
  setDecorations(type: FakeDecorationType, ranges: any[]): void {
    this.decorations.set(type, ranges);
  }
  /** The decorations of every type that has some: what the user sees. */
  shown(): { type: FakeDecorationType; ranges: any[] }[] {
    return [...this.decorations].filter(([, r]) => r.length > 0).map(([type, ranges]) => ({ type, ranges }));
  }
  /** TextEditor.edit: one undo step in VS Code; here a WorkspaceEdit applied to the document. */
  edit(build: (b: { replace(r: Range, t: string): void; insert(p: Position, t: string): void; delete(r: Range): void }) => void): Promise<boolean> {
    const edit = new WorkspaceEdit();
    build({
      replace: (r, t) => edit.replace(this.document.uri, r, t),
      insert: (p, t) => edit.insert(this.document.uri, p, t),
      delete: (r) => edit.replace(this.document.uri, r, ''),
    });
    this.fake.editCalls += 1;
    return Promise.resolve(this.fake.applyEdit(edit));
  }
  revealRange(range: Range): void {
    this.revealed.push(range);
  }
}

/** Callable, constructible, any property: for API the test does not care about. */
function inert(): any {
  const cache = new Map<PropertyKey, unknown>();
  const target = function () {
    return undefined;
  };
  return new Proxy(target, {
    get(_t, p) {
      if (p === 'then') {
        return undefined;
      }
      if (p === 'dispose') {
        return () => undefined;
      }
      if (p === Symbol.iterator) {
        return function* () {
          /* nothing */
        };
      }
      if (p === Symbol.toPrimitive) {
        return () => '';
      }
      if (p === 'prototype') {
        return Object.prototype;
      }
      if (!cache.has(p)) {
        cache.set(p, inert());
      }
      return cache.get(p);
    },
    apply: () => inert(),
    construct: () => inert(),
  });
}

/** A namespace: the given members, inert stubs for the rest. */
function namespace<T extends object>(members: T): T & Record<string, any> {
  return new Proxy(members as any, {
    get(t, p) {
      if (p in t) {
        return t[p];
      }
      if (p === 'then') {
        return undefined;
      }
      return inert();
    },
  });
}

/** A class the client extends or instantiates without the test looking at it. */
function anyClass(): any {
  class Stub {
    constructor(...args: unknown[]) {
      (this as any).args = args;
    }
  }
  return new Proxy(Stub, {
    get(t, p, r) {
      return p in t ? Reflect.get(t, p, r) : inert();
    },
  });
}

export interface Message {
  level: 'error' | 'warning' | 'info';
  text: string;
  items: string[];
}

export class FakeVscode {
  readonly settings = new Map<string, unknown>();
  readonly commands = new Map<string, (...args: any[]) => unknown>();
  readonly executed: { id: string; args: unknown[] }[] = [];
  readonly messages: Message[] = [];
  readonly inlineProviders: any[] = [];
  readonly codeActionProviders: any[] = [];
  readonly statusItems: any[] = [];
  readonly output: string[] = [];
  readonly documents: FakeDocument[] = [];
  activeTextEditor: FakeEditor | { document: FakeDocument; selection: Selection } | undefined;
  readonly editors: FakeEditor[] = [];
  /** Context keys set with `setContext`. */
  readonly context = new Map<string, unknown>();
  /** Calls of TextEditor.edit (the editor's own, undoable edits). */
  editCalls = 0;
  readonly onDidChangeActiveEditor = new EventEmitter<unknown>();
  /** What showInputBox answers (undefined: Escape). */
  inputBoxAnswer: string | undefined;
  /** Chooses a button of a message (undefined: dismissed). */
  answerMessage: (m: Message) => string | undefined = () => undefined;
  readonly onDidOpen = new EventEmitter<FakeDocument>();
  readonly onDidChange = new EventEmitter<any>();
  readonly onDidChangeConfiguration = new EventEmitter<any>();
  readonly module: any;

  constructor(defaults: Record<string, unknown>) {
    for (const [k, v] of Object.entries(defaults)) {
      this.settings.set(k, v);
    }
    // The members below are getters and methods of plain objects, where `this` is the object.
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const fake = this;
    const message = (level: Message['level']) => (text: string, ...rest: unknown[]) => {
      const items = rest.filter((x): x is string => typeof x === 'string');
      const m = { level, text, items };
      fake.messages.push(m);
      return Promise.resolve(fake.answerMessage(m));
    };
    const known: Record<string, unknown> = {
      version: '1.82.0',
      Position,
      Range,
      Selection,
      Uri,
      EventEmitter,
      Disposable,
      CancellationTokenSource,
      InlineCompletionItem,
      InlineCompletionList,
      TextEdit,
      WorkspaceEdit,
      CodeAction,
      CodeActionKind,
      CodeActionTriggerKind: { Invoke: 1, Automatic: 2 },
      CancellationError: class CancellationError extends Error {
        name = 'Canceled';
      },
      ThemeColor: class ThemeColor {
        constructor(readonly id: string) {}
      },
      InlineCompletionTriggerKind: { Invoke: 0, Automatic: 1 },
      MarkdownString,
      TextEditorRevealType: { Default: 0, InCenter: 1, InCenterIfOutsideViewport: 2, AtTop: 3 },
      StatusBarAlignment: { Left: 1, Right: 2 },
      ProgressLocation: { SourceControl: 1, Window: 10, Notification: 15 },
      env: namespace({ appName: 'Visual Studio Code', language: 'en', openExternal: () => Promise.resolve(true) }),
      commands: namespace({
        registerCommand(id: string, fn: (...args: any[]) => unknown) {
          if (fake.commands.has(id)) {
            throw new Error(`command '${id}' already exists`);
          }
          fake.commands.set(id, fn);
          return { dispose: () => fake.commands.delete(id) };
        },
        executeCommand(id: string, ...args: unknown[]) {
          fake.executed.push({ id, args });
          if (id === 'setContext') {
            fake.context.set(args[0] as string, args[1]);
          }
          const fn = fake.commands.get(id);
          return Promise.resolve(fn ? fn(...args) : undefined);
        },
        getCommands: () => Promise.resolve([...fake.commands.keys()]),
      }),
      window: namespace({
        get activeTextEditor() {
          return fake.activeTextEditor;
        },
        get visibleTextEditors() {
          return fake.editors;
        },
        createTextEditorDecorationType: (options: unknown) => new FakeDecorationType(options),
        createOutputChannel: (name: string) => ({
          name,
          append: (s: string) => fake.output.push(s),
          appendLine: (s: string) => fake.output.push(`${s}\n`),
          replace: () => undefined,
          clear: () => undefined,
          show: () => undefined,
          hide: () => undefined,
          dispose: () => undefined,
        }),
        createStatusBarItem: () => {
          const item = { text: '', tooltip: '', show: () => undefined, hide: () => undefined, dispose: () => undefined };
          fake.statusItems.push(item);
          return item;
        },
        showErrorMessage: message('error'),
        showWarningMessage: message('warning'),
        showInformationMessage: message('info'),
        showInputBox: () => Promise.resolve(fake.inputBoxAnswer),
        showQuickPick: () => Promise.resolve(undefined),
        withProgress: (_options: unknown, task: (p: unknown, t: unknown) => unknown) =>
          Promise.resolve(task({ report: () => undefined }, new CancellationTokenSource().token)),
        onDidChangeActiveTextEditor: fake.onDidChangeActiveEditor.event,
      }),
      workspace: namespace({
        get textDocuments() {
          return fake.documents;
        },
        workspaceFolders: undefined,
        onDidOpenTextDocument: fake.onDidOpen.event,
        onDidChangeTextDocument: fake.onDidChange.event,
        onDidChangeConfiguration: fake.onDidChangeConfiguration.event,
        getConfiguration: (section?: string) => ({
          get: (key: string, dflt?: unknown) => {
            const full = section ? `${section}.${key}` : key;
            return fake.settings.has(full) ? fake.settings.get(full) : dflt;
          },
          has: (key: string) => fake.settings.has(section ? `${section}.${key}` : key),
          inspect: () => undefined,
          update: () => Promise.resolve(),
        }),
        applyEdit: (edit: WorkspaceEdit) => Promise.resolve(fake.applyEdit(edit)),
      }),
      languages: namespace({
        match: (selector: any, doc: FakeDocument) =>
          (Array.isArray(selector) ? selector : [selector]).some(
            (s: any) => (!s.language || s.language === doc.languageId) && (!s.scheme || s.scheme === doc.uri.scheme),
          )
            ? 10
            : 0,
        registerCodeActionsProvider: (_selector: unknown, provider: unknown) => {
          fake.codeActionProviders.push(provider);
          return { dispose: () => fake.codeActionProviders.splice(fake.codeActionProviders.indexOf(provider), 1) };
        },
        registerInlineCompletionItemProvider: (_selector: unknown, provider: unknown) => {
          fake.inlineProviders.push(provider);
          return { dispose: () => fake.inlineProviders.splice(fake.inlineProviders.indexOf(provider), 1) };
        },
      }),
    };
    this.module = new Proxy(known, {
      get(t, p) {
        if (typeof p !== 'string' || p in t) {
          return (t as any)[p];
        }
        if (p === 'then' || p === '__esModule') {
          return undefined;
        }
        t[p] = /^[A-Z]/.test(p) ? anyClass() : namespace({});
        return t[p];
      },
    });
  }

  open(uri: string, languageId: string, text: string): FakeDocument {
    const doc = new FakeDocument(Uri.parse(uri), languageId, text);
    this.documents.push(doc);
    this.onDidOpen.fire(doc);
    return doc;
  }

  /** As VS Code applies a WorkspaceEdit: the text changes, the version goes up, listeners hear. */
  applyEdit(edit: WorkspaceEdit): boolean {
    for (const [uri, edits] of edit.entries()) {
      const doc = this.documents.find((d) => d.uri.toString() === uri.toString());
      if (!doc) {
        return false;
      }
      const sorted = [...edits].sort((a, b) => doc.offsetAt(b.range.start) - doc.offsetAt(a.range.start));
      const contentChanges = sorted.map((e) => {
        const start = doc.offsetAt(e.range.start);
        const end = doc.offsetAt(e.range.end);
        const change = { range: e.range, rangeOffset: start, rangeLength: end - start, text: e.newText };
        doc.text = doc.text.slice(0, start) + e.newText + doc.text.slice(end);
        return change;
      });
      doc.version += 1;
      this.onDidChange.fire({ document: doc, contentChanges, reason: undefined });
    }
    return true;
  }

  /** Shows `doc` in an editor with the cursor at `cursor`, and makes it the active one. */
  showEditor(doc: FakeDocument, cursor: [number, number]): FakeEditor {
    const at = new Position(...cursor);
    const editor = new FakeEditor(this, doc, new Selection(at, at));
    this.editors.push(editor);
    this.activeTextEditor = editor;
    this.onDidChangeActiveEditor.fire(editor);
    return editor;
  }

  /** A settings change, as VS Code reports it. */
  configure(values: Record<string, unknown>): void {
    for (const [k, v] of Object.entries(values)) {
      this.settings.set(k, v);
    }
    const keys = Object.keys(values);
    this.onDidChangeConfiguration.fire({
      affectsConfiguration: (section: string) => keys.some((k) => k === section || k.startsWith(`${section}.`)),
    });
  }

  statusText(): string {
    return this.statusItems[0]?.text ?? '';
  }
}

/**
 * Loads the extension's bundle with `vscode` resolved to `fake` (for the rest of this process:
 * node's test runner gives every test file its own).
 */
export function loadExtension(fake: FakeVscode, bundle: string): { activate(ctx: unknown): Promise<void>; deactivate(): Promise<void> } {
  const mod = Module as unknown as { _load: (request: string, ...rest: unknown[]) => unknown };
  const original = mod._load;
  mod._load = function (request: string, ...rest: unknown[]) {
    return request === 'vscode' ? fake.module : original.call(this, request, ...rest);
  };
  const file = path.resolve(bundle);
  delete require.cache[file];
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- a fresh load of the bundle
  return require(file);
}

/** The extension context VS Code hands to activate(). */
export function extensionContext(extensionPath: string): unknown {
  return {
    subscriptions: [] as { dispose(): unknown }[],
    extensionUri: Uri.file(extensionPath),
    extensionPath,
    globalState: { get: () => undefined, update: () => Promise.resolve() },
    workspaceState: { get: () => undefined, update: () => Promise.resolve() },
  };
}
