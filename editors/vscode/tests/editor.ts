// What VS Code does with the server's edits, for the integration test: documents as strings,
// LSP positions in UTF-16 code units (JavaScript's own string indexing), versioned edits refused
// when the document moved on (as vscode-languageclient's applyEdit handler does).

import type { Position, Range, TextEdit, WorkspaceEdit } from 'vscode-languageserver-protocol';

export function offsetAt(text: string, p: Position): number {
  let offset = 0;
  for (let line = 0; line < p.line; line++) {
    const nl = text.indexOf('\n', offset);
    if (nl < 0) {
      return text.length;
    }
    offset = nl + 1;
  }
  const lineEnd = text.indexOf('\n', offset);
  const end = lineEnd < 0 ? text.length : lineEnd;
  return Math.min(offset + p.character, end);
}

export function applyTextEdits(text: string, edits: TextEdit[]): string {
  const sorted = [...edits].sort((a, b) => offsetAt(text, b.range.start) - offsetAt(text, a.range.start));
  let out = text;
  for (const e of sorted) {
    out = out.slice(0, offsetAt(out, e.range.start)) + e.newText + out.slice(offsetAt(out, e.range.end));
  }
  return out;
}

export function lineAt(text: string, line: number): string {
  return text.split('\n')[line]?.replace(/\r$/, '') ?? '';
}

export interface Doc {
  uri: string;
  languageId: string;
  version: number;
  text: string;
}

/** The content changes VS Code sends for edits applied to a document (last position first). */
export function contentChanges(text: string, edits: TextEdit[]): { range: Range; text: string }[] {
  return [...edits]
    .sort((a, b) => offsetAt(text, b.range.start) - offsetAt(text, a.range.start))
    .map((e) => ({ range: e.range, text: e.newText }));
}

/** The edits of a WorkspaceEdit for one document, and the version they were computed for. */
export function editsFor(edit: WorkspaceEdit, uri: string): { version: number | null; edits: TextEdit[] } {
  for (const change of edit.documentChanges ?? []) {
    if ('textDocument' in change && change.textDocument.uri === uri) {
      return { version: change.textDocument.version, edits: change.edits as TextEdit[] };
    }
  }
  return { version: null, edits: edit.changes?.[uri] ?? [] };
}
