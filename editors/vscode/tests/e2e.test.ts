// The real dllm-ls with a model that predicts "a" everywhere, driven through the extension's
// own modules: settings -> initializationOptions, the launch, request builders, inline item
// fitting, command results, status model. Answers are known in advance, so every edit is
// checked to the character.

import assert from 'node:assert/strict';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';

import type { CodeAction, InitializeResult, WorkspaceEdit } from 'vscode-languageserver-protocol';

import { applyToLine, normalizeItems } from '../src/inline';
import { endOfEdit, NEXT_EDIT_METHOD, nextEditParams, parseNextEdit } from '../src/nextEdit';
import {
  codeActionParams,
  completeBlockParams,
  describeCommandResult,
  describeError,
  fillHolesParams,
  inlineCompletionParams,
  parseCommandResult,
  parseNextEditEnabled,
  parseStatus,
  rewriteParams,
  SERVER_COMMANDS,
  statusParams,
} from '../src/protocol';
import { resolveServerPath } from '../src/serverPath';
import { ServerSettings, toServerSettings } from '../src/settings';
import { applyTextEdits, editsFor, lineAt } from './editor';
import { vscodeGetter } from './paths';
import { fixtures, Session, TIMEOUT_MS } from './server';

const found = fixtures();
const skip = 'skip' in found ? found.skip : false;
const binary = 'skip' in found ? '' : found.binary;
const model = 'skip' in found ? '' : found.model;
after(() => {
  if (!('skip' in found)) {
    found.cleanup();
  }
});

const pos = (line: number, character: number) => ({ line, character });
const range = (l1: number, c1: number, l2: number, c2: number) => ({ start: pos(l1, c1), end: pos(l2, c2) });

/** The settings the extension would send for these `dllm.*` values (contributed defaults otherwise). */
function settings(overrides: Record<string, unknown> = {}): ServerSettings {
  return toServerSettings(vscodeGetter({ model, steps: 8, maxTokensBlock: 6, maxTokensInline: 6, ...overrides }));
}

/** Inline completion as the extension gets it: the request, then its middleware's fitting. */
async function inline(s: Session, uri: string, line: number, character: number) {
  const result = await s.request('textDocument/inlineCompletion', inlineCompletionParams(uri, pos(line, character), 1));
  return normalizeItems(result, pos(line, character), lineAt(s.docs.get(uri)!.text, line));
}

/** Runs a server command as the extension does and returns what it would tell the user. */
async function command(s: Session, title: string, params: ReturnType<typeof fillHolesParams>) {
  const before = s.appliedEdits.length;
  const result = parseCommandResult(await s.request('workspace/executeCommand', params));
  return { result, message: describeCommandResult(title, result), edits: s.appliedEdits.length - before };
}

describe('dllm-ls end to end', { skip, timeout: 5 * TIMEOUT_MS }, () => {
  let s: Session;
  let init: InitializeResult;
  const RS = 'file:///tmp/dllm-vscode-e2e/lib.rs';
  const PY = 'file:///tmp/dllm-vscode-e2e/app.py';

  before(async () => {
    s = Session.start(binary, settings());
    init = await s.initialize(settings());
  });
  after(() => s?.kill());

  test('the server found the way the extension finds it', () => {
    const r = resolveServerPath({ pathVar: path.dirname(binary) });
    assert.deepEqual(r, { ok: true, path: binary, source: 'PATH' });
  });

  test('initialize: UTF-16 (vscode-languageclient refuses anything else), inline completion, resolvable actions, the commands', () => {
    const caps = init.capabilities;
    assert.equal(caps.positionEncoding, 'utf-16');
    assert.equal((caps as { inlineCompletionProvider?: unknown }).inlineCompletionProvider, true);
    assert.equal(caps.textDocumentSync, 2, 'incremental sync');
    assert.deepEqual(
      typeof caps.codeActionProvider === 'object' && caps.codeActionProvider.resolveProvider,
      true,
    );
    assert.deepEqual([...(caps.executeCommandProvider?.commands ?? [])].sort(), Object.values(SERVER_COMMANDS).sort());
    assert.equal(init.serverInfo?.name, 'dllm-ls');
  });

  test('the model load is reported with work-done progress, then dllm.status says ready', async () => {
    await s.until('the progress to end', () => s.progress.some((p) => p.kind === 'end'));
    const begin = s.progress.find((p) => p.kind === 'begin');
    assert.ok(begin && begin.kind === 'begin', JSON.stringify(s.progress));
    assert.equal(begin.message, `loading ${model}`);
    const end = s.progress.find((p) => p.kind === 'end');
    assert.match(end?.message ?? '', /^ready: /);
    assert.equal(s.status.phase, 'ready', 'the status model followed the progress');
    const state = await s.waitModel();
    assert.equal(state.state, 'ready', JSON.stringify(state));
    assert.equal(s.status.view().text, '$(check) dllm');
    assert.deepEqual(s.messages, [], 'no warnings about the settings the extension sent');
  });

  test('inline completion in an empty block: ghost text at the cursor', async () => {
    await s.open(RS, 'rust', 'fn f() -> i32 {\n    \n}\n');
    const started = Date.now();
    s.status.begin();
    const n = await inline(s, RS, 1, 4);
    s.status.end(Date.now() - started);
    assert.deepEqual(n.dropped, []);
    assert.deepEqual(n.items, [{ insertText: 'aaaaaa', range: range(1, 4, 1, 4) }]);
    assert.equal(applyToLine('    ', n.items[0]), '    aaaaaa');
    assert.match(s.status.view().text, /^\$\(check\) dllm \d+ ms$/);
  });

  test('inline completion of the rest of a line, and a settings change that takes effect', async () => {
    await s.open(PY, 'python', 'def f():\n    x = \n    return x\n');
    let n = await inline(s, PY, 1, 8);
    assert.deepEqual(n.items, [{ insertText: 'aaaaaa', range: range(1, 8, 1, 8) }]);
    // dllm.maxTokensInline = 3, sent as the extension sends a change: every key, under "dllm".
    await s.configure(settings({ maxTokensInline: 3 }));
    n = await inline(s, PY, 1, 8);
    assert.deepEqual(n.items, [{ insertText: 'aaa', range: range(1, 8, 1, 8) }]);
    await s.configure(settings());
    n = await inline(s, PY, 1, 8);
    assert.equal(n.items[0]?.insertText, 'aaaaaa');
    // Mid-word there is nothing to suggest: an empty answer, not an error.
    await s.edit(PY, [{ range: range(1, 8, 1, 8), newText: 'value' }]);
    n = await inline(s, PY, 1, 10);
    assert.deepEqual(n.items, []);
    assert.deepEqual(s.messages, []);
  });

  test('code actions are listed without edits and resolved to a versioned edit; a stale one is refused', async () => {
    const uri = 'file:///tmp/dllm-vscode-e2e/holes.rs';
    const text = 'fn f(x: i32) -> i32 {\n    let y = todo!();\n    y + x\n}\n';
    await s.open(uri, 'rust', text);
    const actions = await s.request<CodeAction[]>('textDocument/codeAction', codeActionParams(uri, range(1, 12, 1, 12)));
    const titles = actions.map((a) => a.title);
    assert.ok(titles.includes('Fill holes (dllm)'), JSON.stringify(titles));
    assert.ok(titles.includes('Complete this block (dllm)'), JSON.stringify(titles));
    assert.ok(actions.every((a) => a.edit === undefined && a.data !== undefined), 'edits come with codeAction/resolve');
    const fill = actions.find((a) => a.title === 'Fill holes (dllm)')!;
    assert.equal(fill.kind, 'quickfix');

    const resolved = await s.request<CodeAction>('codeAction/resolve', fill);
    const { version, edits } = editsFor(resolved.edit as WorkspaceEdit, uri);
    assert.equal(version, 1);
    assert.equal(applyTextEdits(text, edits), 'fn f(x: i32) -> i32 {\n    let y = aaaaaa;\n    y + x\n}\n');

    // With a selection: Rewrite selection is offered.
    const withSelection = await s.request<CodeAction[]>('textDocument/codeAction', codeActionParams(uri, range(2, 4, 2, 9)));
    assert.ok(withSelection.some((a) => a.title === 'Rewrite selection (dllm)'), JSON.stringify(withSelection.map((a) => a.title)));

    // After an edit the listed action is stale: the extension's middleware tells the user.
    await s.edit(uri, [{ range: range(0, 0, 0, 0), newText: '// x\n' }]);
    const stale = await s.request('codeAction/resolve', fill).then(
      () => assert.fail('a stale action must not resolve'),
      (e: unknown) => e,
    );
    assert.equal((stale as { code?: number }).code, -32801);
    assert.equal(describeError(fill.title, stale).level, 'info');
  });

  test('dllm.fillHoles: the edit arrives by workspace/applyEdit and lands on the document', async () => {
    const uri = 'file:///tmp/dllm-vscode-e2e/fill.rs';
    await s.open(uri, 'rust', 'fn f() -> i32 {\n    let a = todo!();\n    let b = unimplemented!();\n    a + b\n}\n');
    const r = await command(s, 'Fill holes', fillHolesParams(uri, pos(1, 4)));
    assert.deepEqual(r.result, { applied: true, notes: [] });
    assert.equal(r.message, undefined, 'nothing to tell the user');
    assert.equal(r.edits, 1);
    const doc = s.docs.get(uri)!;
    assert.equal(doc.text, 'fn f() -> i32 {\n    let a = aaaaaa;\n    let b = aaaaaa;\n    a + b\n}\n');
    assert.equal(doc.version, 2);
    // Nothing left to fill: the server says so and changes nothing.
    const again = await command(s, 'Fill holes', fillHolesParams(uri, pos(1, 4)));
    assert.equal(again.result.applied, false);
    assert.equal(again.edits, 0);
    assert.equal(again.message?.level, 'warning');
    assert.match(again.message!.text, /^dllm: Fill holes: nothing changed: .*no holes/);
  });

  test('dllm.rewrite with an instruction: applied, and the user learns the base model ignored it', async () => {
    const uri = 'file:///tmp/dllm-vscode-e2e/rewrite.rs';
    await s.open(uri, 'rust', 'fn f() -> i32 {\n    1 + 2\n}\n');
    const r = await command(s, 'Rewrite selection', rewriteParams(uri, range(1, 4, 1, 9), 'make it faster'));
    assert.equal(r.result.applied, true);
    assert.equal(r.message?.level, 'info');
    assert.match(r.message!.text, /^dllm: Rewrite selection: .*ignored/);
    assert.equal(s.docs.get(uri)!.text, 'fn f() -> i32 {\n    aaaaaa\n}\n');
    // Without an instruction there is nothing to report.
    await s.edit(uri, [{ range: range(1, 4, 1, 10), newText: '3 * 4' }]);
    const plain = await command(s, 'Rewrite selection', rewriteParams(uri, range(1, 4, 1, 9), '   '));
    assert.deepEqual(plain.result, { applied: true, notes: [] });
    assert.equal(s.docs.get(uri)!.text, 'fn f() -> i32 {\n    aaaaaa\n}\n');
  });

  test('dllm.completeBlock regenerates the block around the cursor', async () => {
    const uri = 'file:///tmp/dllm-vscode-e2e/block.rs';
    await s.open(uri, 'rust', 'fn g() -> i32 {\n    let z = 1;\n    z\n}\n');
    const r = await command(s, 'Complete block', completeBlockParams(uri, pos(1, 4)));
    assert.equal(r.result.applied, true, JSON.stringify(r));
    const text = s.docs.get(uri)!.text;
    assert.ok(text.startsWith('fn g() -> i32 {') && text.endsWith('}\n'), text);
    assert.ok(text.includes('aaaaaa') && !text.includes('let z'), text);
    // Outside any block there is nothing to complete.
    const top = 'file:///tmp/dllm-vscode-e2e/top.rs';
    await s.open(top, 'rust', 'use std::fmt;\n');
    const none = await command(s, 'Complete block', completeBlockParams(top, pos(0, 0)));
    assert.equal(none.result.applied, false);
    assert.match(none.message!.text, /nothing changed: .*not inside a block/);
  });

  test('non-ASCII text: UTF-16 positions agree between the extension and the server', async () => {
    const uri = 'file:///tmp/dllm-vscode-e2e/emoji.rs';
    const text = 'fn f() -> i32 { /* 😀 größe */ todo!() }\n';
    await s.open(uri, 'rust', text);
    const hole = text.indexOf('todo!()'); // JavaScript indexes in UTF-16 code units, as VS Code does.
    const r = await command(s, 'Fill holes', fillHolesParams(uri, pos(0, hole)));
    assert.equal(r.result.applied, true);
    assert.equal(s.docs.get(uri)!.text, 'fn f() -> i32 { /* 😀 größe */ aaaaaa }\n');
  });

  test('dllm/nextEdit: after a rename at the definition, the same name at the next use, for this version', async () => {
    const uri = 'file:///tmp/dllm-vscode-e2e/next.rs';
    await s.open(uri, 'rust', 'fn f(x: i32) -> i32 {\n    let y = x + 1;\n    y * 2\n}\n');
    assert.equal(parseNextEditEnabled(await s.request('workspace/executeCommand', statusParams())), true);
    // The rename as VS Code sends it, then the request at the cursor after the new name.
    await s.edit(uri, [{ range: range(1, 8, 1, 9), newText: 'aaaaaa' }]);
    const doc = s.docs.get(uri)!;
    const next = parseNextEdit(await s.request(NEXT_EDIT_METHOD, nextEditParams(uri, pos(1, 14))));
    assert.ok(next, 'a suggestion');
    assert.deepEqual({ ...next, label: '' }, { uri, range: range(2, 4, 2, 5), newText: 'aaaaaa', version: doc.version, label: '' });
    assert.notEqual(next.label, '', 'a label to show beside it');
    // Accepted as the extension does: the edit, then the cursor at its end.
    await s.edit(uri, [{ range: next.range, newText: next.newText }]);
    assert.equal(doc.text, 'fn f(x: i32) -> i32 {\n    let aaaaaa = x + 1;\n    aaaaaa * 2\n}\n');
    assert.deepEqual(endOfEdit(next), pos(2, 10));
    // Asked again from there: the rename is complete, nothing more to suggest.
    assert.equal(await s.request(NEXT_EDIT_METHOD, nextEditParams(uri, endOfEdit(next))), null);

    // dllm.nextEditSuggestions = false: the request answers null, and dllm.status says so.
    await s.edit(uri, [{ range: range(1, 8, 1, 14), newText: 'y' }]);
    await s.edit(uri, [{ range: range(2, 4, 2, 10), newText: 'y' }]);
    await s.configure(settings({ nextEditSuggestions: false }));
    await s.edit(uri, [{ range: range(1, 8, 1, 9), newText: 'aaaaaa' }]);
    assert.equal(await s.request(NEXT_EDIT_METHOD, nextEditParams(uri, pos(1, 14))), null);
    assert.equal(parseNextEditEnabled(await s.request('workspace/executeCommand', statusParams())), false);
    await s.configure(settings());
  });

  test('shutdown and exit: the server ends cleanly', async () => {
    assert.equal(await s.shutdown(), 0, s.stderr.slice(-2000));
  });
});

describe('dllm-ls without a usable model', { skip, timeout: 3 * TIMEOUT_MS }, () => {
  let s: Session;
  after(() => s?.kill());

  test('the failure is shown, requests answer empty, and a model set later loads', async () => {
    const bad = settings({ model: '/no/such/dllm/model' });
    s = Session.start(binary, bad);
    await s.initialize(bad);
    await s.until('an error message', () => s.messages.some((m) => m.type === 1));
    const shown = s.messages.find((m) => m.type === 1)!;
    assert.match(shown.message, /\/no\/such\/dllm\/model/);
    const state = await s.waitModel();
    assert.equal(state.state, 'failed');
    const view = s.status.view();
    assert.equal(view.text, '$(error) dllm: no model');
    assert.match(view.tooltip, /\/no\/such\/dllm\/model/);

    const uri = 'file:///tmp/dllm-vscode-e2e/nomodel.rs';
    await s.open(uri, 'rust', 'fn f() -> i32 {\n    \n}\n');
    assert.deepEqual((await inline(s, uri, 1, 4)).items, []);
    const r = await command(s, 'Fill holes', fillHolesParams(uri));
    assert.equal(r.result.applied, false);
    assert.match(r.message!.text, /not ready/);

    // dllm.model set in the settings: the extension sends the change, the server loads it.
    await s.configure(settings());
    await s.until('the load to start', () => s.progress.filter((p) => p.kind === 'begin').length >= 2);
    assert.equal((await s.waitModel()).state, 'ready');
    assert.deepEqual((await inline(s, uri, 1, 4)).items, [{ insertText: 'aaaaaa', range: range(1, 4, 1, 4) }]);
    assert.equal(await s.shutdown(), 0);
  });
});

// Right after opening a file, before the model has loaded: the request waits for the load
// (the test build's DLLM_TEST_LOAD_DELAY_MS makes it slow) and gets its edit, not an empty answer.
describe('a code action right after opening a file', { skip, timeout: 5 * TIMEOUT_MS }, () => {
  test('waits for the model and resolves to an edit', async () => {
    const s = Session.start(binary, settings(), { DLLM_TEST_LOAD_DELAY_MS: '1500' });
    try {
      await s.initialize(settings());
      const uri = 'file:///tmp/dllm-vscode-e2e/early.rs';
      const text = 'fn f(x: i32) -> i32 {\n    let y = todo!();\n    y + x\n}\n';
      await s.open(uri, 'rust', text);
      const status = async () => parseStatus(await s.request('workspace/executeCommand', statusParams()));
      let state = await status();
      while (state.state === 'not_loaded') {
        await new Promise((r) => setTimeout(r, 10));
        state = await status();
      }
      assert.equal(state.state, 'loading', 'the action must be asked for while the model loads');
      const actions = await s.request<CodeAction[]>('textDocument/codeAction', codeActionParams(uri, range(1, 12, 1, 12)));
      const fill = actions.find((a) => a.title === 'Fill holes (dllm)');
      assert.ok(fill, JSON.stringify(actions.map((a) => a.title)));
      const resolved = await s.request<CodeAction>('codeAction/resolve', fill);
      const { edits } = editsFor(resolved.edit as WorkspaceEdit, uri);
      assert.equal(applyTextEdits(text, edits), 'fn f(x: i32) -> i32 {\n    let y = aaaaaa;\n    y + x\n}\n');
      await s.until('the progress to end', () => s.progress.some((p) => p.kind === 'end'));
      assert.ok(
        s.progress.some((p) => p.kind === 'report' && p.percentage === 100),
        `the load's percentage was shown: ${JSON.stringify(s.progress)}`,
      );
    } finally {
      s.kill();
    }
  });
});
