// The extension as shipped (dist/extension.js: src/extension.ts + vscode-languageclient, bundled),
// activated in a stand-in VS Code (tests/fakeVscode.ts) and driven against the real server: the
// commands it registers, the missing-binary message, the status bar, the inline completion
// provider with its middleware, commands applying edits through workspace/applyEdit, settings
// changes, restart, deactivation.

import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, describe, test } from 'node:test';

import { EXTENSION_COMMANDS } from '../src/protocol';
import {
  CancellationTokenSource,
  extensionContext,
  FakeDocument,
  FakeVscode,
  loadExtension,
  Position,
  Range,
  Selection,
  WorkspaceEdit,
} from './fakeVscode';
import { contributedDefaults, EXTENSION_ROOT, packageJson } from './paths';
import { fixtures, TIMEOUT_MS } from './server';

const BUNDLE = path.join(EXTENSION_ROOT, 'dist', 'extension.js');

async function until(what: string, pred: () => boolean, ms = TIMEOUT_MS): Promise<void> {
  const deadline = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for ${what}`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** A WorkspaceEdit inserting `text` at the start of `line`. */
function editAt(doc: FakeDocument, line: number, text: string): WorkspaceEdit {
  const edit = new WorkspaceEdit();
  edit.insert(doc.uri, new Position(line, 0), text);
  return edit;
}

function editor(doc: FakeDocument, from: [number, number], to: [number, number] = from) {
  return { document: doc, selection: new Selection(new Position(...from), new Position(...to)) };
}

describe('the extension bundle', () => {
  test('was built (npm run compile)', () => {
    assert.ok(fs.existsSync(BUNDLE), `${BUNDLE} is missing: run npm run compile`);
  });

  test('without a server binary: every command registered, an error that leads to the install step', async () => {
    const fake = new FakeVscode({ ...contributedDefaults(), 'dllm.serverPath': '/nonexistent/dir/dllm-ls' });
    fake.answerMessage = (m) => (m.items.includes('How to install') ? 'How to install' : undefined);
    const ext = loadExtension(fake, BUNDLE);
    await ext.activate(extensionContext(EXTENSION_ROOT));

    for (const c of packageJson().contributes.commands) {
      assert.ok(fake.commands.has(c.command), `${c.command} is registered`);
    }
    const error = fake.messages.find((m) => m.level === 'error');
    assert.ok(error, JSON.stringify(fake.messages));
    assert.match(error.text, /dllm\.serverPath.*\/nonexistent\/dir\/dllm-ls.*cargo install --path server/);
    assert.deepEqual(error.items, ['How to install', 'Set dllm.serverPath']);
    await until('the README to open', () => fake.executed.some((e) => e.id === 'markdown.showPreview'));
    const preview = fake.executed.find((e) => e.id === 'markdown.showPreview')!;
    assert.equal(String(preview.args[0]), `file://${EXTENSION_ROOT}/README.md`);
    assert.equal(fake.statusText(), '$(circle-slash) dllm');
    assert.match(fake.statusItems[0].tooltip, /server binary not found/);

    // A command without a server says so instead of failing silently.
    const doc = fake.open('file:///tmp/dllm-fake/a.rs', 'rust', 'fn f() {\n    todo!()\n}\n');
    fake.activeTextEditor = editor(doc, [1, 4]);
    await fake.commands.get(EXTENSION_COMMANDS.fillHoles)!();
    assert.ok(fake.messages.some((m) => m.level === 'warning' && /server is not running/.test(m.text)));
    // Files the server does not serve are refused with the reason.
    fake.activeTextEditor = editor(fake.open('file:///tmp/dllm-fake/a.txt', 'plaintext', 'x'), [0, 0]);
    await fake.commands.get(EXTENSION_COMMANDS.completeBlock)!();
    assert.ok(fake.messages.some((m) => /plaintext files are not served/.test(m.text)));
    await ext.deactivate();
  });

  const found = fixtures();
  const skip = 'skip' in found ? found.skip : false;
  after(() => {
    if (!('skip' in found)) {
      found.cleanup();
    }
  });

  test('with the real server: status, inline completions, commands, settings, restart', { skip, timeout: 4 * TIMEOUT_MS }, async () => {
    if ('skip' in found) {
      return;
    }
    const fake = new FakeVscode({
      ...contributedDefaults(),
      'dllm.serverPath': found.binary,
      'dllm.model': found.model,
      'dllm.steps': 8,
      'dllm.maxTokensInline': 6,
      'dllm.maxTokensBlock': 6,
      'dllm.trace.server': 'verbose', // the LSP traffic goes to the output channel, checked below
      'dllm.nextEdit.debounceMs': 50,
    });
    const lib = fake.open('file:///tmp/dllm-fake/lib.rs', 'rust', 'fn f() -> i32 {\n    \n}\n');
    const ext = loadExtension(fake, BUNDLE);
    try {
      await ext.activate(extensionContext(EXTENSION_ROOT));
      await until('the model to be ready', () => fake.statusText() === '$(check) dllm');
      assert.match(fake.statusItems[0].tooltip, /ready/);
      assert.match(fake.statusItems[0].tooltip, /Next-edit suggestions: on\./);

      // Inline completion through vscode-languageclient's provider and the extension's middleware.
      assert.equal(fake.inlineProviders.length, 1);
      const token = new CancellationTokenSource().token;
      const ask = (doc: FakeDocument, line: number, character: number, context: unknown = { triggerKind: 0, selectedCompletionInfo: undefined }) =>
        fake.inlineProviders[0].provideInlineCompletionItems(doc, new Position(line, character), context, token);
      let items = await ask(lib, 1, 4);
      assert.equal(items.length, 1);
      assert.equal(items[0].insertText, 'aaaaaa');
      assert.ok(items[0].range instanceof Range);
      assert.deepEqual([items[0].range.start.line, items[0].range.start.character, items[0].range.end.line, items[0].range.end.character], [1, 4, 1, 4]);
      assert.match(fake.statusText(), /^\$\(check\) dllm \d+ ms$/);
      // With the suggest widget open VS Code passes selectedCompletionInfo, whose Range would go
      // out as an array: the middleware leaves it out (the traced request shows what was sent).
      items = await ask(lib, 1, 4, { triggerKind: 1, selectedCompletionInfo: { range: new Range(1, 4, 1, 4), text: 'x' } });
      assert.equal(items?.[0]?.insertText, 'aaaaaa');
      const traced = fake.output.join('');
      assert.match(traced, /Sending request 'textDocument\/inlineCompletion/);
      assert.doesNotMatch(traced, /selectedCompletionInfo/);

      // dllm: Fill holes — computed by the server, applied through workspace/applyEdit.
      const holes = fake.open('file:///tmp/dllm-fake/holes.rs', 'rust', 'fn g() -> i32 {\n    let y = todo!();\n    y\n}\n');
      fake.activeTextEditor = editor(holes, [1, 12]);
      await fake.commands.get(EXTENSION_COMMANDS.fillHoles)!();
      assert.equal(holes.text, 'fn g() -> i32 {\n    let y = aaaaaa;\n    y\n}\n');
      assert.equal(holes.version, 2);
      // Again: nothing left, and the user is told.
      await fake.commands.get(EXTENSION_COMMANDS.fillHoles)!();
      assert.ok(fake.messages.some((m) => m.level === 'warning' && /Fill holes: nothing changed: .*no holes/.test(m.text)), JSON.stringify(fake.messages));

      // dllm: Rewrite selection… — the instruction from the input box, the note about it.
      const rw = fake.open('file:///tmp/dllm-fake/rw.rs', 'rust', 'fn h() -> i32 {\n    1 + 2\n}\n');
      fake.activeTextEditor = editor(rw, [1, 4], [1, 9]);
      fake.inputBoxAnswer = undefined; // Escape: nothing happens
      await fake.commands.get(EXTENSION_COMMANDS.rewriteSelection)!();
      assert.equal(rw.text, 'fn h() -> i32 {\n    1 + 2\n}\n');
      fake.inputBoxAnswer = 'make it faster';
      await fake.commands.get(EXTENSION_COMMANDS.rewriteSelection)!();
      assert.equal(rw.text, 'fn h() -> i32 {\n    aaaaaa\n}\n');
      assert.ok(fake.messages.some((m) => m.level === 'info' && /Rewrite selection: .*ignored/.test(m.text)));
      fake.activeTextEditor = editor(rw, [1, 4]);
      await fake.commands.get(EXTENSION_COMMANDS.rewriteSelection)!();
      assert.ok(fake.messages.some((m) => /select the code to rewrite first/.test(m.text)));

      // Code actions: listed by vscode-languageclient, resolved through the extension's middleware,
      // applied as VS Code applies a code action's edit; a stale one becomes a message.
      const acts = fake.open('file:///tmp/dllm-fake/acts.rs', 'rust', 'fn m() -> i32 {\n    let q = todo!();\n    q\n}\n');
      assert.equal(fake.codeActionProviders.length, 1);
      const provider = fake.codeActionProviders[0];
      const listed = await provider.provideCodeActions(acts, new Range(1, 12, 1, 12), { diagnostics: [], only: undefined, triggerKind: 1 }, token);
      const fill = listed.find((a: { title: string }) => a.title === 'Fill holes (dllm)');
      assert.ok(fill, JSON.stringify(listed.map((a: { title: string }) => a.title)));
      assert.equal(fill.kind.value, 'quickfix');
      assert.equal(fill.edit, undefined);
      const resolved = await provider.resolveCodeAction(fill, token);
      assert.ok(fake.applyEdit(resolved.edit));
      assert.equal(acts.text, 'fn m() -> i32 {\n    let q = aaaaaa;\n    q\n}\n');
      const stale = await provider.provideCodeActions(acts, new Range(2, 4, 2, 4), { diagnostics: [], only: undefined, triggerKind: 1 }, token);
      const rename = stale.find((a: { title: string }) => a.title === 'Rename here (dllm)');
      assert.ok(rename, JSON.stringify(stale.map((a: { title: string }) => a.title)));
      fake.applyEdit(editAt(acts, 0, '// edited\n'));
      const unresolved = await provider.resolveCodeAction(rename, token);
      assert.equal(unresolved.edit, undefined);
      assert.ok(fake.messages.some((m) => m.level === 'info' && /Rename here \(dllm\) was cancelled/.test(m.text)), JSON.stringify(fake.messages));

      // dllm: Complete block.
      const block = fake.open('file:///tmp/dllm-fake/block.rs', 'rust', 'fn k() -> i32 {\n    let z = 1;\n    z\n}\n');
      fake.activeTextEditor = editor(block, [1, 4]);
      await fake.commands.get(EXTENSION_COMMANDS.completeBlock)!();
      assert.ok(block.text.includes('aaaaaa') && !block.text.includes('let z'), block.text);

      // Next edit: after a rename at the definition, the same name at the next use, drawn where
      // it applies; Tab (the accept command) applies it with the editor's own edit, the cursor
      // goes to its end, and after the pause the next one is asked for.
      const nx = fake.open('file:///tmp/dllm-fake/next.rs', 'rust', 'fn f(x: i32) -> i32 {\n    let y = x + 1;\n    y * 2\n}\n');
      const nxEditor = fake.showEditor(nx, [1, 8]);
      const asked = () => fake.output.join('').match(/Sending request 'dllm\/nextEdit/g)?.length ?? 0;
      await nxEditor.edit((b) => b.replace(new Range(1, 8, 1, 9), 'aaaaaa'));
      nxEditor.selection = new Selection(new Position(1, 14), new Position(1, 14));
      await until('the next edit to show', () => nxEditor.shown().length === 2);
      assert.equal(asked(), 1, 'asked once, after the pause');
      const shown = Object.fromEntries(nxEditor.shown().map(({ type, ranges }) => [type.options.textDecoration ?? 'after', ranges[0]]));
      const struck = shown['line-through'].range;
      assert.deepEqual([struck.start.line, struck.start.character, struck.end.line, struck.end.character], [2, 4, 2, 5]);
      assert.equal(shown.after.renderOptions.after.contentText, 'aaaaaa');
      assert.equal(fake.context.get('dllm.nextEditVisible'), true);
      assert.equal(await fake.commands.get(EXTENSION_COMMANDS.acceptNextEdit)!(), true);
      assert.equal(nx.text, 'fn f(x: i32) -> i32 {\n    let aaaaaa = x + 1;\n    aaaaaa * 2\n}\n');
      assert.deepEqual([nxEditor.selection.active.line, nxEditor.selection.active.character], [2, 10]);
      assert.deepEqual(nxEditor.shown(), []);
      assert.equal(fake.context.get('dllm.nextEditVisible'), false);
      await until('the next request after accepting', () => asked() === 2);

      // A settings change reaches the server without a restart (an empty block is a multi-line
      // span: its budget is maxTokensBlock).
      fake.configure({ 'dllm.maxTokensBlock': 3 });
      await new Promise((r) => setTimeout(r, 50)); // the notification goes out asynchronously
      items = await ask(lib, 1, 4);
      assert.equal(items?.[0]?.insertText, 'aaa');
      fake.configure({ 'dllm.inlineCompletion.enabled': false });
      assert.equal(await ask(lib, 1, 4), undefined);
      fake.configure({ 'dllm.inlineCompletion.enabled': true });

      // dllm: Restart server — a new server, the document reopened, the settings as they are now.
      await fake.commands.get(EXTENSION_COMMANDS.restartServer)!();
      await until('the model to be ready again', () => fake.statusText().startsWith('$(check) dllm'));
      assert.equal(fake.inlineProviders.length, 1, 'the old provider went with the old client');
      items = await ask(lib, 1, 4);
      assert.equal(items?.[0]?.insertText, 'aaa');

      assert.deepEqual(
        fake.messages.filter((m) => m.level === 'error'),
        [],
        'no errors shown',
      );
    } finally {
      await ext.deactivate();
    }
    assert.equal(fake.statusText(), '$(circle-slash) dllm');
    // vscode-languageclient logs every server exit under [Error]: both (restart, deactivate) were clean.
    const exits = () => fake.output.join('').match(/Server process exited with code 0\./g)?.length ?? 0;
    await until('the server to exit', () => exits() === 2, 10_000);
    const log = fake.output.join('');
    assert.deepEqual(
      log.split('\n').filter((l) => /\[Error|panicked|ERROR/.test(l) && !/exited with code 0\./.test(l)),
      [],
      log,
    );
  });
});
