// Next-edit suggestions in VS Code. VS Code 1.82's stable API has no inline-edit rendering (the
// inline completion API only shows text at the cursor), so a suggestion is drawn with decorations
// where it will apply: the replaced text struck through, the new text right after it, a hover
// that says what it is. A context key lets Tab accept it and Escape dismiss it (package.json's
// keybindings). When to ask and which answer is still good is nextEdit.ts's NextEditScheduler.

import * as vscode from 'vscode';

import { EXTENSION_COMMANDS, LANGUAGES, NEXT_EDIT_CONTEXT } from './protocol';
import { endOfEdit, NEXT_EDIT_METHOD, nextEditParams, NextEditScheduler, NextEditSuggestion, preview } from './nextEdit';

/** What the view needs from the extension: the running client, if any, and its log. */
export interface NextEditClient {
  /** Sends a request when the server is running; `undefined` when it is not. */
  request(method: string, params: unknown, token: vscode.CancellationToken): Promise<unknown> | undefined;
  /** The document's uri as the server knows it. */
  uri(document: vscode.TextDocument): string;
  log(line: string): void;
}

function toRange(r: { start: { line: number; character: number }; end: { line: number; character: number } }): vscode.Range {
  return new vscode.Range(r.start.line, r.start.character, r.end.line, r.end.character);
}

export class NextEditView implements vscode.Disposable {
  private readonly removed = vscode.window.createTextEditorDecorationType({
    textDecoration: 'line-through',
    backgroundColor: new vscode.ThemeColor('diffEditor.removedTextBackground'),
  });
  private readonly inserted = vscode.window.createTextEditorDecorationType({
    after: {
      color: new vscode.ThemeColor('editorGhostText.foreground'),
      backgroundColor: new vscode.ThemeColor('diffEditor.insertedTextBackground'),
      margin: '0 0 0 0.2em',
    },
  });
  private readonly scheduler: NextEditScheduler;
  private readonly disposables: vscode.Disposable[] = [];

  constructor(private readonly client: NextEditClient) {
    this.scheduler = new NextEditScheduler({
      debounceMs: () => vscode.workspace.getConfiguration('dllm').get<number>('nextEdit.debounceMs', 500),
      enabled: (uri) => this.enabled(uri),
      version: (uri) => this.document(uri)?.version,
      ask: (uri, signal) => this.ask(uri, signal),
      show: (s) => this.show(s),
      hide: (s) => this.hide(s),
      log: (line) => client.log(line),
    });
    this.disposables.push(
      vscode.commands.registerCommand(EXTENSION_COMMANDS.acceptNextEdit, () => this.accept()),
      vscode.commands.registerCommand(EXTENSION_COMMANDS.dismissNextEdit, () => this.scheduler.dismiss()),
      vscode.workspace.onDidChangeTextDocument((e) => {
        if (e.contentChanges.length > 0 && this.served(e.document)) {
          this.scheduler.changed(e.document.uri.toString());
        }
      }),
      // The suggestion belongs to the editor it was asked for.
      vscode.window.onDidChangeActiveTextEditor(() => this.scheduler.reset()),
    );
  }

  /** The suggestion on screen, for the tests. */
  get current(): NextEditSuggestion | undefined {
    return this.scheduler.current;
  }

  /** The server stopped or restarts: nothing shown, nothing asked. */
  reset(): void {
    this.scheduler.reset();
  }

  dispose(): void {
    this.scheduler.reset();
    this.disposables.forEach((d) => d.dispose());
    this.removed.dispose();
    this.inserted.dispose();
  }

  private served(document: vscode.TextDocument): boolean {
    return (LANGUAGES as readonly string[]).includes(document.languageId) && ['file', 'untitled'].includes(document.uri.scheme);
  }

  private enabled(uri: string): boolean {
    return (
      vscode.workspace.getConfiguration('dllm').get<boolean>('nextEditSuggestions', true) &&
      vscode.window.activeTextEditor?.document.uri.toString() === uri
    );
  }

  private document(uri: string): vscode.TextDocument | undefined {
    return vscode.workspace.textDocuments.find((d) => d.uri.toString() === uri && !d.isClosed);
  }

  private editors(uri: string): readonly vscode.TextEditor[] {
    const active = vscode.window.activeTextEditor;
    const visible = vscode.window.visibleTextEditors.filter((e) => e.document.uri.toString() === uri);
    return active && active.document.uri.toString() === uri && !visible.includes(active) ? [active, ...visible] : visible;
  }

  /** Asks at the cursor of the active editor (enabled() made sure it shows the document). */
  private ask(uri: string, signal: AbortSignal): Promise<unknown> {
    const editor = vscode.window.activeTextEditor;
    if (!editor || editor.document.uri.toString() !== uri) {
      return Promise.resolve(null);
    }
    const source = new vscode.CancellationTokenSource();
    signal.addEventListener('abort', () => source.cancel());
    const params = nextEditParams(this.client.uri(editor.document), editor.selection.active);
    const sent = this.client.request(NEXT_EDIT_METHOD, params, source.token);
    return (sent ?? Promise.resolve(null)).finally(() => source.dispose());
  }

  private show(s: NextEditSuggestion): void {
    const p = preview(s);
    const hover = new vscode.MarkdownString(p.hover);
    for (const editor of this.editors(s.uri)) {
      editor.setDecorations(this.removed, p.removed ? [{ range: toRange(p.removed), hoverMessage: hover }] : []);
      editor.setDecorations(this.inserted, [
        { range: toRange({ start: p.at, end: p.at }), hoverMessage: hover, renderOptions: { after: { contentText: p.inserted } } },
      ]);
    }
    void vscode.commands.executeCommand('setContext', NEXT_EDIT_CONTEXT, true);
  }

  private hide(s: NextEditSuggestion): void {
    for (const editor of this.editors(s.uri)) {
      editor.setDecorations(this.removed, []);
      editor.setDecorations(this.inserted, []);
    }
    void vscode.commands.executeCommand('setContext', NEXT_EDIT_CONTEXT, false);
  }

  /**
   * Applies the suggestion with the editor's own edit (one undo step), puts the cursor at the
   * end of the new text and shows it. The edit is a change like any other: the scheduler asks
   * again after the pause, for the next occurrence.
   */
  private async accept(): Promise<boolean> {
    const s = this.scheduler.take();
    const editor = s && this.editors(s.uri)[0];
    if (!s || !editor) {
      return false;
    }
    const range = toRange(s.range);
    const applied = await editor.edit((builder) => builder.replace(range, s.newText));
    if (!applied) {
      this.client.log('next edit: VS Code refused the edit');
      return false;
    }
    const end = endOfEdit(s);
    const cursor = new vscode.Position(end.line, end.character);
    editor.selection = new vscode.Selection(cursor, cursor);
    editor.revealRange(new vscode.Range(cursor, cursor), vscode.TextEditorRevealType.InCenterIfOutsideViewport);
    return true;
  }
}
