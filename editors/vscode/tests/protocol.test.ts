// Request builders and answer readers, against the server's source and package.json.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import {
  codeActionParams,
  completeBlockParams,
  configurationChangeParams,
  describeCommandResult,
  describeError,
  EXTENSION_COMMANDS,
  fillHolesParams,
  inlineCompletionParams,
  LANGUAGES,
  NEXT_EDIT_CONTEXT,
  parseCommandResult,
  parseNextEditEnabled,
  describeLoadingProgress,
  type LoadingProgress,
  parseStatus,
  rewriteParams,
  SERVER_COMMANDS,
  statusParams,
} from '../src/protocol';
import { COMMAND_ARGUMENT_FIELDS, LOADING_PHASES, LOADING_PROGRESS_FIELDS, STATUS_STATES } from '../src/protocol.generated';
import { NEXT_EDIT_METHOD } from '../src/nextEdit';
import { packageJson, readRepoFile } from './paths';

/** Like VS Code's Position/Range: extra members, and Range serialises as an array. */
class FakePosition {
  constructor(
    readonly line: number,
    readonly character: number,
  ) {}
  isBefore(): boolean {
    return false;
  }
}
class FakeRange {
  constructor(
    readonly start: FakePosition,
    readonly end: FakePosition,
  ) {}
  get isEmpty(): boolean {
    return false;
  }
  toJSON() {
    return [this.start, this.end];
  }
}

const wire = (x: unknown) => JSON.parse(JSON.stringify(x));

describe('protocol', () => {
  test('the extension commands are contributed, categorised and never collide with server commands', () => {
    const pkg = packageJson();
    const contributed = pkg.contributes.commands.map((c) => c.command).sort();
    assert.deepEqual(contributed, Object.values(EXTENSION_COMMANDS).sort());
    for (const c of pkg.contributes.commands) {
      assert.equal(c.category, 'dllm', c.command);
    }
    const titles = Object.fromEntries(pkg.contributes.commands.map((c) => [c.command, c.title]));
    assert.equal(titles[EXTENSION_COMMANDS.rewriteSelection], 'Rewrite selection…');
    assert.equal(titles[EXTENSION_COMMANDS.fillHoles], 'Fill holes');
    assert.equal(titles[EXTENSION_COMMANDS.completeBlock], 'Complete block');
    assert.equal(titles[EXTENSION_COMMANDS.restartServer], 'Restart server');
    assert.equal(titles[EXTENSION_COMMANDS.showLog], 'Show log');
    // vscode-languageclient registers the server's commands under their own names.
    for (const id of Object.values(EXTENSION_COMMANDS)) {
      assert.ok(!(Object.values(SERVER_COMMANDS) as string[]).includes(id), id);
    }
    const context = pkg.contributes.menus['editor/context'].map((m) => m.command);
    assert.deepEqual(context, [EXTENSION_COMMANDS.rewriteSelection, EXTENSION_COMMANDS.fillHoles, EXTENSION_COMMANDS.completeBlock]);
  });

  test('the languages are the activation events and the menus\' language filter', () => {
    const pkg = packageJson();
    assert.deepEqual(pkg.activationEvents, LANGUAGES.map((l) => `onLanguage:${l}`));
    for (const entry of [...pkg.contributes.menus['editor/context'], ...pkg.contributes.menus.commandPalette]) {
      assert.ok(entry.when?.includes(`editorLangId =~ /^(${LANGUAGES.join('|')})$/`), entry.command);
    }
  });

  test('dllm.rewrite {uri, range, instruction?}, with plain positions on the wire', () => {
    const range = new FakeRange(new FakePosition(1, 4), new FakePosition(1, 9));
    assert.deepEqual(wire(rewriteParams('file:///a.rs', range as never, '  make it faster ')), {
      command: 'dllm.rewrite',
      arguments: [
        { uri: 'file:///a.rs', range: { start: { line: 1, character: 4 }, end: { line: 1, character: 9 } }, instruction: 'make it faster' },
      ],
    });
    for (const blank of [undefined, '', '   ']) {
      assert.deepEqual(Object.keys(rewriteParams('file:///a.rs', range as never, blank).arguments![0]).sort(), ['range', 'uri']);
    }
  });

  test('dllm.fillHoles {uri, position?}, dllm.completeBlock {uri, position}, dllm.status', () => {
    const p = new FakePosition(3, 2);
    assert.deepEqual(wire(fillHolesParams('file:///a.py', p)), {
      command: 'dllm.fillHoles',
      arguments: [{ uri: 'file:///a.py', position: { line: 3, character: 2 } }],
    });
    assert.deepEqual(fillHolesParams('file:///a.py'), { command: 'dllm.fillHoles', arguments: [{ uri: 'file:///a.py' }] });
    assert.deepEqual(wire(completeBlockParams('file:///a.go', p)), {
      command: 'dllm.completeBlock',
      arguments: [{ uri: 'file:///a.go', position: { line: 3, character: 2 } }],
    });
    assert.deepEqual(statusParams(), { command: 'dllm.status', arguments: [] });
  });

  test('the argument fields are the ones the server reads (generated from command.rs)', () => {
    assert.deepEqual([...COMMAND_ARGUMENT_FIELDS], ['instruction', 'position', 'range', 'uri']);
  });

  test('inline completion, code action and configuration params', () => {
    assert.deepEqual(wire(inlineCompletionParams('file:///a.rs', new FakePosition(1, 4) as never, 0)), {
      textDocument: { uri: 'file:///a.rs' },
      position: { line: 1, character: 4 },
      context: { triggerKind: 0 },
    });
    assert.deepEqual(wire(codeActionParams('file:///a.rs', new FakeRange(new FakePosition(0, 1), new FakePosition(0, 1)) as never)), {
      textDocument: { uri: 'file:///a.rs' },
      range: { start: { line: 0, character: 1 }, end: { line: 0, character: 1 } },
      context: { diagnostics: [] },
    });
    assert.deepEqual(configurationChangeParams({ steps: 4 }), { settings: { dllm: { steps: 4 } } });
  });

  test('reading {applied, notes} and telling the user', () => {
    assert.deepEqual(parseCommandResult({ applied: true, notes: ['x', 3] }), { applied: true, notes: ['x'] });
    assert.deepEqual(parseCommandResult(null), { applied: false, notes: [] });
    assert.deepEqual(parseCommandResult({ applied: 'yes' }), { applied: false, notes: [] });
    assert.equal(describeCommandResult('Fill holes', { applied: true, notes: [] }), undefined);
    assert.deepEqual(describeCommandResult('Rewrite selection', { applied: true, notes: ['the instruction was ignored'] }), {
      level: 'info',
      text: 'dllm: Rewrite selection: the instruction was ignored',
    });
    assert.deepEqual(describeCommandResult('Fill holes', { applied: false, notes: ['no holes here'] }), {
      level: 'warning',
      text: 'dllm: Fill holes: nothing changed: no holes here',
    });
    assert.match(describeCommandResult('Fill holes', { applied: false, notes: [] })!.text, /not applied/);
  });

  test('errors: cancellations are quiet, server messages are kept', () => {
    assert.equal(describeError('Fill holes', { code: -32800, message: 'cancelled' }).level, 'info');
    assert.equal(describeError('Fill holes', { code: -32801, message: 'modified' }).level, 'info');
    assert.equal(describeError('Fill holes', { name: 'Canceled', message: 'Canceled' }).level, 'info');
    assert.deepEqual(describeError('Fill holes (dllm)', { code: -32803, message: 'dllm-ls: no holes here; nothing changed' }), {
      level: 'warning',
      text: 'dllm-ls: no holes here; nothing changed',
    });
    assert.deepEqual(describeError('Complete block', new Error('boom')), { level: 'error', text: 'dllm: Complete block failed: boom' });
  });

  test('dllm.status answers', () => {
    assert.deepEqual(parseStatus({ state: 'ready', model: 'dream (2 layers)' }), { state: 'ready', model: 'dream (2 layers)' });
    assert.deepEqual(parseStatus({ state: 'loading', model: '/m' }), { state: 'loading', model: '/m' });
    assert.deepEqual(parseStatus({ state: 'failed', error: 'no such dir' }), { state: 'failed', error: 'no such dir' });
    assert.deepEqual(parseStatus({ state: 'not_loaded' }), { state: 'not_loaded' });
    assert.equal(parseStatus({ state: 'weird' }).state, 'unknown');
    assert.equal(parseStatus(null).state, 'unknown');
    // A loading status with progress: every field the server sends is read, in each phase.
    const progress = { phase: 'downloading', percent: 9, doneMb: 120, totalMb: 1261, file: 'model.safetensors' };
    assert.deepEqual(Object.keys(progress).sort(), [...LOADING_PROGRESS_FIELDS].sort());
    assert.deepEqual(parseStatus({ state: 'loading', model: 'o/m', ...progress }), { state: 'loading', model: 'o/m', progress });
    for (const phase of LOADING_PHASES) {
      const parsed = parseStatus({ state: 'loading', model: 'o/m', ...progress, phase });
      assert.equal(parsed.state === 'loading' && parsed.progress?.phase, phase);
    }
    assert.equal(describeLoadingProgress(progress as LoadingProgress), 'downloading model.safetensors: 120 of 1261 MB (9%)');
    assert.deepEqual(parseStatus({ state: 'loading', model: 'o/m', phase: 'loading', percent: 'x' }), { state: 'loading', model: 'o/m' });
    // Every state the server can answer is one parseStatus knows.
    for (const state of STATUS_STATES) {
      assert.notEqual(parseStatus({ state, model: '/m', error: 'e' }).state, 'unknown', state);
    }
  });

  test('dllm/nextEdit: the method and answer fields the server declares, nextEdit in dllm.status', () => {
    const ext = readRepoFile('server/src/lsp/ext.rs');
    assert.ok(ext.includes(`const NEXT_EDIT: &str = "${NEXT_EDIT_METHOD}";`), 'the method name of ext.rs');
    const answer = ext.slice(ext.indexOf('pub(crate) struct NextEdit {'));
    const fields = [...answer.slice(0, answer.indexOf('}')).matchAll(/pub (\w+):/g)].map((m) =>
      m[1].replace(/_(\w)/g, (_, c: string) => c.toUpperCase()),
    );
    // What parseNextEdit reads (nextEdit.test.ts): every field, camelCase on the wire.
    assert.deepEqual(fields.sort(), ['label', 'newText', 'range', 'uri', 'version']);
    assert.equal(parseNextEditEnabled({ state: 'ready', nextEdit: false }), false);
    assert.equal(parseNextEditEnabled({ state: 'ready', nextEdit: true }), true);
    assert.equal(parseNextEditEnabled({ state: 'ready' }), undefined);
  });

  test('Tab and Escape act on a next edit only while one is shown', () => {
    const pkg = packageJson() as ReturnType<typeof packageJson> & {
      contributes: { keybindings: { command: string; key: string; when: string }[] };
    };
    const keys = Object.fromEntries(pkg.contributes.keybindings.map((k) => [k.key, k]));
    assert.equal(keys.tab.command, EXTENSION_COMMANDS.acceptNextEdit);
    assert.equal(keys.escape.command, EXTENSION_COMMANDS.dismissNextEdit);
    for (const k of pkg.contributes.keybindings) {
      assert.ok(k.when.startsWith(`${NEXT_EDIT_CONTEXT} && editorTextFocus`), k.when);
      // Tab and Escape keep their meaning for VS Code's own inline suggestions and suggest widget.
      assert.match(k.when, /!inlineSuggestionVisible && !suggestWidgetVisible/);
    }
  });
});
