// Inline completion items as VS Code needs them for ghost text and partial accepts.
// No `vscode` import: works on LSP-shaped data (VS Code's Position/Range have the same fields).
//
// VS Code shows an InlineCompletionItem as ghost text, and accepts it whole (Tab), word by word
// (Ctrl/Cmd+Right, editor.action.inlineSuggest.acceptNextWord) or line by line
// (editor.action.inlineSuggest.acceptNextLine), when its range
//   * lies on the cursor's line and contains the cursor, and
//   * the document text from range.start to the cursor is a prefix of insertText
// (the text from the cursor to range.end is what the item replaces after the cursor: dllm-ls
// regenerates the rest of the line). Partial accepts insert the next word/line of the ghost text
// and keep the rest of the item, so they need nothing else. The server already answers with a
// one-line range that starts at the cursor; `normalizeItems` enforces the rules above for any
// answer, so an item is either shown correctly or dropped (with the reason, for the log).

export interface Pos {
  line: number;
  character: number;
}

export interface Rng {
  start: Pos;
  end: Pos;
}

/** One LSP InlineCompletionItem (3.18): `insertText` a string, or a snippet `{kind, value}`. */
export interface LspInlineItem {
  insertText: string | { kind?: string; value: string };
  filterText?: string;
  range?: Rng;
  command?: unknown;
}

export interface InlineItem {
  insertText: string;
  range: Rng;
}

export interface Normalized {
  items: InlineItem[];
  /** Why items were dropped, for the log. */
  dropped: string[];
}

/** The answer of `textDocument/inlineCompletion`: an array, a list, or null. */
export function itemsOf(result: unknown): LspInlineItem[] {
  if (Array.isArray(result)) {
    return result as LspInlineItem[];
  }
  if (result && typeof result === 'object' && Array.isArray((result as { items?: unknown }).items)) {
    return (result as { items: LspInlineItem[] }).items;
  }
  return [];
}

/**
 * Fits items to the cursor: `lineText` is the cursor's line (without its line break), `cursor`
 * the position the request was made at.
 */
export function normalizeItems(result: unknown, cursor: Pos, lineText: string): Normalized {
  const out: Normalized = { items: [], dropped: [] };
  for (const item of itemsOf(result)) {
    const r = normalizeItem(item, cursor, lineText);
    if (typeof r === 'string') {
      out.dropped.push(r);
    } else {
      out.items.push(r);
    }
  }
  return out;
}

export function normalizeItem(item: LspInlineItem, cursor: Pos, lineText: string): InlineItem | string {
  let text = typeof item.insertText === 'string' ? item.insertText : (item.insertText?.value ?? '');
  const range = item.range ?? { start: cursor, end: cursor };
  if (range.start.line !== cursor.line || range.end.line !== cursor.line) {
    return `the item's range ${show(range)} is not on the cursor's line ${cursor.line}`;
  }
  let start = Math.min(range.start.character, lineText.length);
  let end = Math.min(Math.max(range.end.character, start), lineText.length);
  const at = Math.min(cursor.character, lineText.length);
  if (start > at) {
    // Starts after the cursor: take in the text between, unchanged.
    text = lineText.slice(at, start) + text;
    start = at;
  }
  if (end < at) {
    // Ends before the cursor: the text up to the cursor stays as it is.
    text = text + lineText.slice(end, at);
    end = at;
  }
  const typed = lineText.slice(start, at);
  if (!text.startsWith(typed)) {
    return `the item does not continue the text before the cursor (${JSON.stringify(typed)})`;
  }
  if (text === lineText.slice(start, end)) {
    return 'the item would not change the text';
  }
  if (text.trim() === '') {
    return 'the item is blank';
  }
  return {
    insertText: text,
    range: { start: { line: cursor.line, character: start }, end: { line: cursor.line, character: end } },
  };
}

/** Applies an item to the line, as accepting it in full would. */
export function applyToLine(lineText: string, item: InlineItem): string {
  return lineText.slice(0, item.range.start.character) + item.insertText + lineText.slice(item.range.end.character);
}

/** The ghost text shown after the cursor: insertText without what is already typed. */
export function ghostText(item: InlineItem, cursor: Pos): string {
  return item.insertText.slice(cursor.character - item.range.start.character);
}

function show(r: Rng): string {
  return `${r.start.line}:${r.start.character}-${r.end.line}:${r.end.character}`;
}
