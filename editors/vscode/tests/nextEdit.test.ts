// Next-edit suggestions without VS Code: the answer read, the preview, the cursor after accepting,
// and the scheduler's debounce and version checks against a scripted host.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import {
  endOfEdit,
  NextEditHost,
  nextEditParams,
  NextEditScheduler,
  NextEditSuggestion,
  parseNextEdit,
  preview,
} from '../src/nextEdit';

const pos = (line: number, character: number) => ({ line, character });
const range = (l1: number, c1: number, l2: number, c2: number) => ({ start: pos(l1, c1), end: pos(l2, c2) });
const URI = 'file:///tmp/a.rs';

function suggestion(version: number, newText = 'total'): NextEditSuggestion {
  return { uri: URI, range: range(2, 4, 2, 5), newText, version, label: 'rename `y` → `total`' };
}

describe('the dllm/nextEdit answer', () => {
  test('params carry only the uri and a plain position', () => {
    const vscodeLike = Object.assign(pos(1, 14), { isBefore: () => false });
    assert.deepEqual(nextEditParams(URI, vscodeLike), { textDocument: { uri: URI }, position: pos(1, 14) });
  });

  test('a suggestion is read; null and malformed answers are none', () => {
    const raw = { uri: URI, range: range(2, 4, 2, 5), newText: 'total', version: 3, label: 'rename' };
    assert.deepEqual(parseNextEdit(raw), { ...raw });
    assert.equal(parseNextEdit({ ...raw, label: undefined })?.label, '');
    assert.equal(parseNextEdit(null), undefined);
    assert.equal(parseNextEdit({ ...raw, version: '3' }), undefined);
    assert.equal(parseNextEdit({ ...raw, newText: 1 }), undefined);
    assert.equal(parseNextEdit({ ...raw, range: range(2, 5, 2, 4) }), undefined, 'end before start');
    assert.equal(parseNextEdit({ ...raw, range: { start: pos(-1, 0), end: pos(0, 0) } }), undefined);
  });

  test('the cursor lands at the end of the new text', () => {
    assert.deepEqual(endOfEdit({ range: range(2, 4, 2, 5), newText: 'aaaaaa' }), pos(2, 10));
    assert.deepEqual(endOfEdit({ range: range(2, 4, 2, 5), newText: '' }), pos(2, 4));
    assert.deepEqual(endOfEdit({ range: range(2, 4, 3, 1), newText: 'a,\n    bc' }), pos(3, 6));
  });

  test('the preview strikes the old text and shows the new one beside it', () => {
    const p = preview(suggestion(3));
    assert.deepEqual(p.removed, range(2, 4, 2, 5));
    assert.deepEqual(p.at, pos(2, 5));
    assert.equal(p.inserted, 'total');
    assert.equal(p.hover, 'dllm next edit: rename `y` → `total`. Tab: accept; Escape: dismiss.');
    const insertion = preview({ ...suggestion(3, 'x,\ny'), range: range(1, 2, 1, 2), label: '' });
    assert.equal(insertion.removed, undefined);
    assert.equal(insertion.inserted, 'x, ⏎ y');
    assert.match(insertion.hover, /insert `x,\ny`/);
  });
});

/** A host whose document and server answers the test controls. */
class ScriptedHost implements NextEditHost {
  docVersion = 1;
  enabledNow = true;
  debounce = 20;
  asked: number[] = [];
  aborted = 0;
  shown: NextEditSuggestion[] = [];
  hidden: NextEditSuggestion[] = [];
  logs: string[] = [];
  /** What the server answers for a request made at this document version. */
  answer: (version: number) => Promise<unknown> = (v) => Promise.resolve(suggestion(v));

  debounceMs = () => this.debounce;
  enabled = () => this.enabledNow;
  version = () => this.docVersion;
  ask = (_uri: string, signal: AbortSignal) => {
    this.asked.push(this.docVersion);
    signal.addEventListener('abort', () => (this.aborted += 1));
    return this.answer(this.docVersion);
  };
  show = (s: NextEditSuggestion) => void this.shown.push(s);
  hide = (s: NextEditSuggestion) => void this.hidden.push(s);
  log = (line: string) => void this.logs.push(line);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Waits for `pred` (a loaded machine may be slow; a timeout fails the test). */
async function until(what: string, pred: () => boolean): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!pred()) {
    assert.ok(Date.now() < deadline, `timed out waiting for ${what}`);
    await sleep(5);
  }
}

describe('the next-edit scheduler', () => {
  test('asks once after a pause in typing, not on every change', async () => {
    const host = new ScriptedHost();
    host.debounce = 300;
    const s = new NextEditScheduler(host);
    for (let v = 2; v <= 5; v++) {
      host.docVersion = v;
      s.changed(URI);
      await sleep(5);
    }
    assert.deepEqual(host.asked, [], 'nothing asked while typing');
    await until('the suggestion', () => host.shown.length > 0);
    assert.deepEqual(host.asked, [5]);
    assert.deepEqual(host.shown, [suggestion(5)]);
    assert.deepEqual(s.current, suggestion(5));
  });

  test('a change drops the suggestion; accepting checks the version again', async () => {
    const host = new ScriptedHost();
    const s = new NextEditScheduler(host);
    s.changed(URI);
    await until('the suggestion', () => s.current !== undefined);
    host.docVersion = 2;
    s.changed(URI);
    assert.equal(s.current, undefined);
    assert.deepEqual(host.hidden, [suggestion(1)]);
    await until('the new suggestion', () => s.current !== undefined);
    // Shown for version 2, then the document moves on without a change event reaching us yet.
    host.docVersion = 3;
    assert.equal(s.take(), undefined, 'a stale suggestion is not applied');
    assert.match(host.logs.join('\n'), /version 3, the edit was for 2/);
    assert.equal(s.current, undefined);
  });

  test('take hands the suggestion over once', async () => {
    const host = new ScriptedHost();
    const s = new NextEditScheduler(host);
    s.changed(URI);
    await until('the suggestion', () => s.current !== undefined);
    assert.deepEqual(s.take(), suggestion(1));
    assert.equal(s.take(), undefined);
    assert.equal(host.hidden.length, 1);
  });

  test('an answer for another version, or after a change, is never shown', async () => {
    const host = new ScriptedHost();
    host.answer = (v) => Promise.resolve(suggestion(v - 1));
    const s = new NextEditScheduler(host);
    host.docVersion = 4;
    s.changed(URI);
    await until('the answer', () => host.logs.length > 0);
    assert.deepEqual(host.shown, []);
    assert.match(host.logs.join('\n'), /dropped on arrival: for version 3, the document is at 4/);

    // A slow answer: the document changes while the request runs; it is cancelled and dropped.
    let release: (v: unknown) => void = () => undefined;
    host.answer = (v) => new Promise((r) => (release = () => r(suggestion(v))));
    s.changed(URI);
    await until('the second request', () => host.asked.length === 2);
    assert.deepEqual(host.asked, [4, 4]);
    host.docVersion = 5;
    host.debounce = 1000;
    s.changed(URI);
    assert.equal(host.aborted, 1, 'the request in flight is cancelled');
    release(undefined);
    await sleep(10);
    assert.deepEqual(host.shown, []);
    s.reset();
  });

  test('disabled: nothing is asked; a failed request is logged, not shown', async () => {
    const host = new ScriptedHost();
    host.enabledNow = false;
    const s = new NextEditScheduler(host);
    s.changed(URI);
    await sleep(60);
    assert.deepEqual(host.asked, []);
    host.enabledNow = true;
    host.answer = () => Promise.reject(new Error('boom'));
    s.changed(URI);
    await until('the failure', () => host.logs.length > 0);
    assert.deepEqual(host.shown, []);
    assert.match(host.logs.join('\n'), /dllm\/nextEdit failed: Error: boom/);
  });

  test('a null answer shows nothing and keeps nothing', async () => {
    const host = new ScriptedHost();
    host.answer = () => Promise.resolve(null);
    const s = new NextEditScheduler(host);
    s.changed(URI);
    await until('the request', () => host.asked.length === 1);
    await sleep(10);
    assert.equal(s.current, undefined);
    assert.deepEqual(host.shown, []);
  });
});
