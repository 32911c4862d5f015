// The next-edit view in a stand-in VS Code (tests/fakeVscode.ts) with a scripted server: what is
// drawn, the context key for Tab and Escape, accepting through the editor's own edit, the cursor,
// asking again afterwards, and dropping a suggestion the document moved away from.

import assert from 'node:assert/strict';
import * as path from 'node:path';
import { describe, test } from 'node:test';

import { EXTENSION_COMMANDS, NEXT_EDIT_CONTEXT } from '../src/protocol';
import type { NextEditClient, NextEditView } from '../src/nextEditView';
import { FakeDocument, FakeEditor, FakeVscode, loadExtension, Position, Range, Selection } from './fakeVscode';
import { contributedDefaults } from './paths';

const TEXT = 'fn f(x: i32) -> i32 {\n    let y = x + 1;\n    y * 2\n}\n';

/** The server, scripted: answers the rename at the next `y`, while there is one. */
class ScriptedClient implements NextEditClient {
  requests: { method: string; params: unknown }[] = [];
  logs: string[] = [];
  constructor(private readonly doc: () => FakeDocument) {}
  request(method: string, params: unknown): Promise<unknown> {
    this.requests.push({ method, params });
    const doc = this.doc();
    const at = doc.text.indexOf('    y * 2');
    if (at < 0) {
      return Promise.resolve(null);
    }
    const start = doc.positionAt(at + 4);
    return Promise.resolve({
      uri: 'file:///tmp/next/a.rs',
      range: { start, end: { line: start.line, character: start.character + 1 } },
      newText: 'total',
      version: doc.version,
      label: 'rename `y` → `total`',
    });
  }
  uri(): string {
    return 'file:///tmp/next/a.rs';
  }
  log(line: string): void {
    this.logs.push(line);
  }
}

async function until(what: string, pred: () => boolean): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!pred()) {
    assert.ok(Date.now() < deadline, `timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

function setup(settings: Record<string, unknown> = {}) {
  const fake = new FakeVscode({ ...contributedDefaults(), 'dllm.nextEdit.debounceMs': 30, ...settings });
  const { NextEditView: View } = loadExtension(fake, path.join(__dirname, '..', 'src', 'nextEditView.js')) as unknown as {
    NextEditView: new (client: NextEditClient) => NextEditView;
  };
  const doc = fake.open('file:///tmp/next/a.rs', 'rust', TEXT);
  const editor = fake.showEditor(doc, [1, 8]);
  const client = new ScriptedClient(() => doc);
  const view = new View(client);
  return { fake, doc, editor, client, view };
}

/** What the editor shows: the struck range and the text after it, as [line, char] pairs. */
function drawn(editor: FakeEditor): { struck?: number[]; inserted?: string; at?: number[]; hover?: string } {
  const out: { struck?: number[]; inserted?: string; at?: number[]; hover?: string } = {};
  for (const { type, ranges } of editor.shown()) {
    const r = ranges[0].range as Range;
    if (type.options.textDecoration === 'line-through') {
      out.struck = [r.start.line, r.start.character, r.end.line, r.end.character];
    } else {
      out.inserted = ranges[0].renderOptions.after.contentText;
      out.at = [r.start.line, r.start.character];
      out.hover = ranges[0].hoverMessage.value;
    }
  }
  return out;
}

/** The rename of `y` at its definition, as typing it changes the document. */
async function rename(editor: FakeEditor): Promise<void> {
  await editor.edit((b) => b.replace(new Range(1, 8, 1, 9), 'total'));
  editor.selection = new Selection(new Position(1, 13), new Position(1, 13));
}

describe('next-edit view', () => {
  test('drawn where it applies after a pause, accepted with the editor\'s edit, then asked again', async () => {
    const { fake, doc, editor, client, view } = setup();
    await rename(editor);
    assert.equal(client.requests.length, 0, 'not asked before the pause');
    await until('the suggestion', () => view.current !== undefined);
    assert.equal(client.requests.length, 1);
    assert.deepEqual(client.requests[0], {
      method: 'dllm/nextEdit',
      params: { textDocument: { uri: 'file:///tmp/next/a.rs' }, position: { line: 1, character: 13 } },
    });
    assert.deepEqual(drawn(editor), {
      struck: [2, 4, 2, 5],
      inserted: 'total',
      at: [2, 5],
      hover: 'dllm next edit: rename `y` → `total`. Tab: accept; Escape: dismiss.',
    });
    assert.equal(fake.context.get(NEXT_EDIT_CONTEXT), true);

    const edits = fake.editCalls;
    assert.equal(await fake.commands.get(EXTENSION_COMMANDS.acceptNextEdit)!(), true);
    assert.equal(fake.editCalls, edits + 1, 'applied with TextEditor.edit (undoable)');
    assert.equal(doc.text, 'fn f(x: i32) -> i32 {\n    let total = x + 1;\n    total * 2\n}\n');
    assert.deepEqual([editor.selection.active.line, editor.selection.active.character], [2, 9]);
    assert.equal(editor.revealed.length, 1);
    assert.deepEqual(editor.shown(), []);
    assert.equal(fake.context.get(NEXT_EDIT_CONTEXT), false);
    // The accepted edit is a change: after the pause, the next one is asked for (none is left).
    await until('the next request', () => client.requests.length === 2);
    assert.deepEqual((client.requests[1].params as { position: unknown }).position, { line: 2, character: 9 });
    assert.equal(view.current, undefined);
    view.dispose();
  });

  test('a change drops it, Escape dismisses it, a stale one is never applied', async () => {
    const { fake, doc, editor, view } = setup();
    await rename(editor);
    await until('the suggestion', () => view.current !== undefined);
    await editor.edit((b) => b.insert(new Position(0, 0), '// x\n'));
    assert.deepEqual(editor.shown(), [], 'a change drops the suggestion at once');
    assert.equal(fake.context.get(NEXT_EDIT_CONTEXT), false);
    assert.equal(await fake.commands.get(EXTENSION_COMMANDS.acceptNextEdit)!(), false);

    await until('the suggestion again', () => view.current !== undefined);
    assert.deepEqual(drawn(editor).struck, [3, 4, 3, 5]);
    await fake.commands.get(EXTENSION_COMMANDS.dismissNextEdit)!();
    assert.deepEqual(editor.shown(), []);
    assert.equal(fake.context.get(NEXT_EDIT_CONTEXT), false);
    assert.equal(await fake.commands.get(EXTENSION_COMMANDS.acceptNextEdit)!(), false);

    // Shown, then the document's version moves on before VS Code reports the change.
    const before = doc.text;
    await editor.edit((b) => b.insert(new Position(0, 0), ' '));
    await until('the suggestion again', () => view.current !== undefined);
    doc.version += 1;
    assert.equal(await fake.commands.get(EXTENSION_COMMANDS.acceptNextEdit)!(), false);
    assert.equal(doc.text, ` ${before}`, 'nothing applied');
    view.dispose();
  });

  test('off with dllm.nextEditSuggestions = false, and for documents the server does not serve', async () => {
    const { fake, editor, client, view } = setup({ 'dllm.nextEditSuggestions': false });
    await rename(editor);
    const txt = fake.open('file:///tmp/next/a.txt', 'plaintext', 'y\n');
    fake.showEditor(txt, [0, 0]).edit((b) => b.replace(new Range(0, 0, 0, 1), 'z'));
    fake.configure({ 'dllm.nextEditSuggestions': true });
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(client.requests.length, 0);
    view.dispose();
  });
});
