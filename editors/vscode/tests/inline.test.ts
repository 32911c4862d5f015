// Inline items fitted for ghost text and partial accepts.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { applyToLine, ghostText, itemsOf, normalizeItem, normalizeItems } from '../src/inline';

const pos = (line: number, character: number) => ({ line, character });
const range = (l1: number, c1: number, l2: number, c2: number) => ({ start: pos(l1, c1), end: pos(l2, c2) });

describe('inline items', () => {
  test('the server\'s shapes: array, list, null', () => {
    assert.equal(itemsOf(null).length, 0);
    assert.equal(itemsOf([{ insertText: 'a' }]).length, 1);
    assert.equal(itemsOf({ items: [{ insertText: 'a' }, { insertText: 'b' }] }).length, 2);
    assert.equal(itemsOf({ isIncomplete: false }).length, 0);
  });

  test('an insertion at the cursor is kept as it is', () => {
    const line = '    ';
    const n = normalizeItems([{ insertText: 'return a + b', range: range(1, 4, 1, 4) }], pos(1, 4), line);
    assert.deepEqual(n, { items: [{ insertText: 'return a + b', range: range(1, 4, 1, 4) }], dropped: [] });
    assert.equal(applyToLine(line, n.items[0]), '    return a + b');
    assert.equal(ghostText(n.items[0], pos(1, 4)), 'return a + b');
  });

  test('no range: insert at the cursor; snippets give their text', () => {
    const n = normalizeItems([{ insertText: { kind: 'snippet', value: 'x' } }], pos(2, 3), 'abc');
    assert.deepEqual(n.items, [{ insertText: 'x', range: range(2, 3, 2, 3) }]);
  });

  test('the rest of the line is replaced (dllm-ls regenerates it)', () => {
    const line = '    foo(';
    // Cursor after "foo(", the server regenerates to the end of the line.
    const n = normalizeItems([{ insertText: 'a, b)', range: range(0, 8, 0, 8) }], pos(0, 8), line);
    assert.equal(applyToLine(line, n.items[0]), '    foo(a, b)');
    const withSuffix = normalizeItems([{ insertText: 'a, b);', range: range(0, 8, 0, 10) }], pos(0, 8), '    foo();');
    assert.deepEqual(withSuffix.items, [{ insertText: 'a, b);', range: range(0, 8, 0, 10) }]);
    assert.equal(applyToLine('    foo();', withSuffix.items[0]), '    foo(a, b);');
  });

  test('a range starting before the cursor must continue what is typed there', () => {
    const line = '    let total = su';
    const ok = normalizeItem({ insertText: 'sum(xs);', range: range(0, 16, 0, 18) }, pos(0, 18), line);
    assert.deepEqual(ok, { insertText: 'sum(xs);', range: range(0, 16, 0, 18) });
    assert.equal(ghostText(ok as never, pos(0, 18)), 'm(xs);');
    const bad = normalizeItem({ insertText: 'max(xs);', range: range(0, 16, 0, 18) }, pos(0, 18), line);
    assert.equal(typeof bad, 'string');
  });

  test('a range after the cursor takes in the text between', () => {
    const r = normalizeItem({ insertText: 'b)', range: range(0, 6, 0, 6) }, pos(0, 4), 'f(a, ');
    assert.deepEqual(r, { insertText: ' b)', range: range(0, 4, 0, 5) });
  });

  test('a range ending before the cursor keeps the typed text', () => {
    const r = normalizeItem({ insertText: 'ab', range: range(0, 0, 0, 1) }, pos(0, 2), 'ab');
    // The text between the range's end and the cursor is appended, so "ab" stays typed.
    assert.deepEqual(r, { insertText: 'abb', range: range(0, 0, 0, 2) });
  });

  test('items off the cursor line, blank, or changing nothing are dropped with a reason', () => {
    const n = normalizeItems(
      [
        { insertText: 'x', range: range(0, 0, 1, 0) },
        { insertText: '   ', range: range(1, 0, 1, 0) },
        { insertText: 'foo', range: range(1, 0, 1, 3) },
        { insertText: 'ok' },
      ],
      pos(1, 0),
      'foo',
    );
    assert.deepEqual(n.items, [{ insertText: 'ok', range: range(1, 0, 1, 0) }]);
    assert.equal(n.dropped.length, 3);
    assert.match(n.dropped[0], /not on the cursor's line/);
    assert.match(n.dropped[1], /blank/);
    assert.match(n.dropped[2], /not change/);
  });

  test('multi-line insert text (accept line by line) keeps its single-line range', () => {
    const n = normalizeItems([{ insertText: 'x = 1\n    return x', range: range(3, 4, 3, 4) }], pos(3, 4), '    ');
    assert.deepEqual(n.items, [{ insertText: 'x = 1\n    return x', range: range(3, 4, 3, 4) }]);
  });

  test('a cursor past a short line is clamped', () => {
    const n = normalizeItems([{ insertText: 'x', range: range(0, 9, 0, 9) }], pos(0, 9), 'ab');
    assert.deepEqual(n.items, [{ insertText: 'x', range: range(0, 2, 0, 2) }]);
  });
});
