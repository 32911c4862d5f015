// The real dllm-ls, started and spoken to the way the extension does it (its modules build the
// launch, the settings and the requests); this file stands in for VS Code and vscode-languageclient.

import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import {
  ApplyWorkspaceEditParams,
  ApplyWorkspaceEditResult,
  ClientCapabilities,
  createProtocolConnection,
  InitializeParams,
  InitializeResult,
  ProtocolConnection,
  ShowMessageParams,
  StreamMessageReader,
  StreamMessageWriter,
  WorkDoneProgress,
  WorkDoneProgressBegin,
  WorkDoneProgressCreateParams,
  WorkDoneProgressEnd,
  WorkDoneProgressReport,
} from 'vscode-languageserver-protocol/node';

import { configurationChangeParams, parseStatus, statusParams, ModelState } from '../src/protocol';
import { serverLaunch } from '../src/serverPath';
import { ServerSettings, serverEnv } from '../src/settings';
import { StatusModel } from '../src/status';
import { contentChanges, Doc, editsFor, applyTextEdits } from './editor';
import { REPO_ROOT } from './paths';

export const TIMEOUT_MS = 60_000;

function targetDir(): string {
  const t = process.env.CARGO_TARGET_DIR;
  return t ? path.resolve(REPO_ROOT, t) : path.join(REPO_ROOT, 'target');
}

/**
 * The server binary and a constant model ("a" everywhere), from DLLM_LS / DLLM_MODEL (set by
 * tests/run.sh) or the cargo target directory. `skip` says why the tests cannot run; with DLLM_LS
 * set, a missing binary is an error rather than a skip.
 */
export function fixtures(): { binary: string; model: string; cleanup: () => void } | { skip: string } {
  const binary = process.env.DLLM_LS ?? path.join(targetDir(), 'debug', 'dllm-ls');
  if (!fs.existsSync(binary)) {
    if (process.env.DLLM_LS) {
      throw new Error(`DLLM_LS=${binary} does not exist`);
    }
    return { skip: `no server binary at ${binary}: run tests/run.sh, or cargo build -p dllm-ls --profile test --examples --bins` };
  }
  if (process.env.DLLM_MODEL) {
    return { binary, model: process.env.DLLM_MODEL, cleanup: () => undefined };
  }
  const writer = path.join(path.dirname(binary), 'examples', 'constant_model');
  if (!fs.existsSync(writer)) {
    return { skip: `no ${writer} to write the test model: cargo build -p dllm-ls --profile test --examples` };
  }
  const model = fs.mkdtempSync(path.join(os.tmpdir(), 'dllm-vscode-model-'));
  execFileSync(writer, [model, 'a'], { stdio: 'ignore' });
  return { binary, model, cleanup: () => fs.rmSync(model, { recursive: true, force: true }) };
}

/**
 * The client capabilities vscode-languageclient 9.0.1 sends that matter to dllm-ls (see its
 * computeClientCapabilities and the features' fillClientCapabilities, registerProposedFeatures
 * included): UTF-16 positions only, work-done progress, versioned workspace edits, code action
 * data + resolve of `edit`, inline completion.
 */
export const VSCODE_CLIENT_CAPABILITIES: ClientCapabilities = {
  general: { positionEncodings: ['utf-16'], staleRequestSupport: { cancel: true, retryOnContentModified: [] } },
  window: { workDoneProgress: true, showMessage: { messageActionItem: { additionalPropertiesSupport: true } }, showDocument: { support: true } },
  workspace: {
    applyEdit: true,
    workspaceEdit: { documentChanges: true, resourceOperations: ['create', 'rename', 'delete'], failureHandling: 'textOnlyTransactional', normalizesLineEndings: true },
    didChangeConfiguration: { dynamicRegistration: true },
    executeCommand: { dynamicRegistration: true },
    configuration: true,
    workspaceFolders: true,
  },
  textDocument: {
    synchronization: { dynamicRegistration: true, willSave: true, willSaveWaitUntil: true, didSave: true },
    completion: { dynamicRegistration: true, contextSupport: true, completionItem: { snippetSupport: true, insertReplaceSupport: true } },
    codeAction: {
      dynamicRegistration: true,
      isPreferredSupport: true,
      disabledSupport: true,
      dataSupport: true,
      resolveSupport: { properties: ['edit'] },
      codeActionLiteralSupport: {
        codeActionKind: { valueSet: ['', 'quickfix', 'refactor', 'refactor.extract', 'refactor.inline', 'refactor.rewrite', 'source', 'source.organizeImports'] },
      },
      honorsChangeAnnotations: false,
    },
    inlineCompletion: { dynamicRegistration: true },
  },
};

type Progress = WorkDoneProgressBegin | WorkDoneProgressReport | WorkDoneProgressEnd;

export class Session {
  readonly docs = new Map<string, Doc>();
  readonly appliedEdits: ApplyWorkspaceEditParams[] = [];
  readonly messages: ShowMessageParams[] = [];
  readonly progress: Progress[] = [];
  /** The extension's status bar model, fed the way the extension feeds it. */
  readonly status = new StatusModel();
  stderr = '';
  private exited: Promise<number | null>;

  private constructor(
    readonly proc: ChildProcess,
    readonly conn: ProtocolConnection,
  ) {
    this.exited = new Promise((resolve) => proc.on('exit', (code) => resolve(code)));
    proc.stderr!.on('data', (d: Buffer) => (this.stderr += d.toString()));
    conn.onRequest('window/workDoneProgress/create', (params: WorkDoneProgressCreateParams) => {
      // As vscode-languageclient's progress part (which lets the token go at the end, so the
      // server can use it again for the next load) and the extension's handleWorkDoneProgress.
      const handler = conn.onProgress(WorkDoneProgress.type, params.token, (value) => {
        this.progress.push(value);
        this.status.progress(value);
        if (value.kind === 'end') {
          handler.dispose();
        }
      });
      return null;
    });
    conn.onRequest('workspace/applyEdit', (params: ApplyWorkspaceEditParams) => this.applyEdit(params));
    conn.onNotification('window/showMessage', (p: ShowMessageParams) => this.messages.push(p));
    conn.onNotification('window/logMessage', () => undefined);
    conn.listen();
  }

  /** Starts the server as the extension does: serverLaunch + serverEnv from the settings (and `env`). */
  static start(binary: string, settings: ServerSettings, env: Record<string, string> = {}): Session {
    const launch = serverLaunch(binary, serverEnv({ PATH: process.env.PATH, ...env }, settings));
    const proc = spawn(launch.command, launch.args, { env: launch.env, stdio: ['pipe', 'pipe', 'pipe'] });
    const conn = createProtocolConnection(new StreamMessageReader(proc.stdout!), new StreamMessageWriter(proc.stdin!));
    return new Session(proc, conn);
  }

  async initialize(settings: ServerSettings): Promise<InitializeResult> {
    this.status.starting();
    const params: InitializeParams = {
      processId: process.pid,
      clientInfo: { name: 'Visual Studio Code (test)', version: '1.82.0' },
      rootUri: null,
      capabilities: VSCODE_CLIENT_CAPABILITIES,
      // The extension's initializationOptions: toServerSettings of the dllm.* settings.
      initializationOptions: settings,
      workspaceFolders: null,
    };
    const result = await this.conn.sendRequest<InitializeResult>('initialize', params);
    await this.conn.sendNotification('initialized', {});
    return result;
  }

  request<R = unknown>(method: string, params: unknown): Promise<R> {
    return this.conn.sendRequest<R>(method, params);
  }

  /** As the extension's refreshStatus: ask dllm.status until the model is no longer loading. */
  async waitModel(): Promise<ModelState> {
    const deadline = Date.now() + TIMEOUT_MS;
    for (;;) {
      const state = parseStatus(await this.request('workspace/executeCommand', statusParams()));
      this.status.modelState(state);
      if (!this.status.settling() && state.state !== 'unknown') {
        return state;
      }
      if (Date.now() > deadline) {
        throw new Error(`the model never finished loading: ${JSON.stringify(state)}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** Waits until `pred` holds, pumping nothing itself (the connection runs on its own). */
  async until(what: string, pred: () => boolean): Promise<void> {
    const deadline = Date.now() + TIMEOUT_MS;
    while (!pred()) {
      if (Date.now() > deadline) {
        throw new Error(`timed out waiting for ${what}`);
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  async configure(settings: ServerSettings): Promise<void> {
    await this.conn.sendNotification('workspace/didChangeConfiguration', configurationChangeParams(settings));
  }

  async open(uri: string, languageId: string, text: string): Promise<void> {
    const doc = { uri, languageId, version: 1, text };
    this.docs.set(uri, doc);
    await this.conn.sendNotification('textDocument/didOpen', { textDocument: { ...doc } });
  }

  /** Edits a document as a user would in VS Code: the text changes, then didChange. */
  async edit(uri: string, edits: { range: { start: { line: number; character: number }; end: { line: number; character: number } }; newText: string }[]): Promise<void> {
    const doc = this.docs.get(uri)!;
    const changes = contentChanges(doc.text, edits);
    doc.text = applyTextEdits(doc.text, edits);
    doc.version += 1;
    await this.conn.sendNotification('textDocument/didChange', {
      textDocument: { uri, version: doc.version },
      contentChanges: changes,
    });
  }

  /** workspace/applyEdit, as vscode-languageclient answers it: refused when a version moved on. */
  private async applyEdit(params: ApplyWorkspaceEditParams): Promise<ApplyWorkspaceEditResult> {
    this.appliedEdits.push(params);
    for (const change of params.edit.documentChanges ?? []) {
      if ('textDocument' in change) {
        const doc = this.docs.get(change.textDocument.uri);
        if (doc && change.textDocument.version !== null && change.textDocument.version !== doc.version) {
          return { applied: false };
        }
      }
    }
    for (const [uri] of this.docs) {
      const { edits } = editsFor(params.edit, uri);
      if (edits.length) {
        await this.edit(uri, edits);
      }
    }
    return { applied: true };
  }

  /** shutdown + exit; resolves to the exit code. */
  async shutdown(): Promise<number | null> {
    await this.conn.sendRequest('shutdown');
    await this.conn.sendNotification('exit');
    const timer = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 10_000));
    const code = await Promise.race([this.exited, timer]);
    this.conn.dispose();
    if (code === 'timeout') {
      this.proc.kill();
      throw new Error('dllm-ls did not exit after `exit`');
    }
    return code;
  }

  kill(): void {
    this.conn.dispose();
    this.proc.kill();
  }
}
