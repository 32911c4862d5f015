// The VS Code side of dllm-ls: starts the server with vscode-languageclient, wires inline
// completions, commands, settings and the status bar. Everything that does not need `vscode`
// lives in the other modules (and is tested without VS Code).

import * as vscode from 'vscode';
import {
  DidChangeConfigurationNotification,
  ExecuteCommandParams,
  ExecuteCommandRequest,
  LanguageClient,
  LanguageClientOptions,
  Middleware,
  RevealOutputChannelOn,
  ServerOptions,
  State,
} from 'vscode-languageclient/node';

import { normalizeItems, LspInlineItem } from './inline';
import { NextEditView } from './nextEditView';
import {
  completeBlockParams,
  configurationChangeParams,
  describeCommandResult,
  describeError,
  EXTENSION_COMMANDS,
  fillHolesParams,
  LANGUAGES,
  MessageLevel,
  parseCommandResult,
  parseNextEditEnabled,
  parseStatus,
  rewriteParams,
  statusParams,
} from './protocol';
import { resolveServerPath, serverLaunch } from './serverPath';
import { affectedKeys, serverEnv, toServerSettings } from './settings';
import { StatusModel } from './status';

let extension: DllmExtension | undefined;

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  extension = new DllmExtension(context);
  context.subscriptions.push(extension);
  await extension.start();
}

export async function deactivate(): Promise<void> {
  await extension?.stop();
  extension = undefined;
}

function config(): vscode.WorkspaceConfiguration {
  return vscode.workspace.getConfiguration('dllm');
}

function serverSettings() {
  const cfg = config();
  return toServerSettings((key) => cfg.get(key));
}

function show(message: { level: MessageLevel; text: string }, ...actions: string[]): Thenable<string | undefined> {
  switch (message.level) {
    case 'error':
      return vscode.window.showErrorMessage(message.text, ...actions);
    case 'warning':
      return vscode.window.showWarningMessage(message.text, ...actions);
    default:
      return vscode.window.showInformationMessage(message.text, ...actions);
  }
}

function sleep(ms: number, token: vscode.CancellationToken): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    const sub = token.onCancellationRequested(done);
    function done() {
      clearTimeout(timer);
      sub.dispose();
      resolve();
    }
  });
}

class DllmExtension implements vscode.Disposable {
  private readonly output: vscode.OutputChannel;
  private readonly statusItem: vscode.StatusBarItem;
  private readonly status = new StatusModel();
  private readonly disposables: vscode.Disposable[] = [];
  private readonly nextEdit: NextEditView;
  private client: LanguageClient | undefined;
  private statusTimer: ReturnType<typeof setTimeout> | undefined;
  private statusQuery = false;
  /** Serialises start/stop/restart. */
  private lifecycle: Promise<void> = Promise.resolve();

  constructor(private readonly context: vscode.ExtensionContext) {
    this.output = vscode.window.createOutputChannel('dllm-ls');
    this.statusItem = vscode.window.createStatusBarItem(vscode.StatusBarAlignment.Right, 100);
    this.statusItem.name = 'dllm-ls';
    this.statusItem.command = EXTENSION_COMMANDS.statusMenu;
    this.render();
    this.statusItem.show();
    const command = (id: string, run: (...args: unknown[]) => unknown) =>
      this.disposables.push(vscode.commands.registerCommand(id, run));
    command(EXTENSION_COMMANDS.rewriteSelection, () => this.rewriteSelection());
    command(EXTENSION_COMMANDS.fillHoles, () => this.atCursor('Fill holes', (uri, pos) => fillHolesParams(uri, pos)));
    command(EXTENSION_COMMANDS.completeBlock, () =>
      this.atCursor('Complete block', (uri, pos) => completeBlockParams(uri, pos)),
    );
    command(EXTENSION_COMMANDS.restartServer, () => this.restart());
    command(EXTENSION_COMMANDS.showLog, () => this.output.show(true));
    command(EXTENSION_COMMANDS.statusMenu, () => this.statusMenu());
    this.disposables.push(vscode.workspace.onDidChangeConfiguration((e) => this.configurationChanged(e)));
    this.nextEdit = new NextEditView({
      request: (method, params, token) =>
        this.client?.state === State.Running ? this.client.sendRequest(method, params, token) : undefined,
      uri: (document) => this.client?.code2ProtocolConverter.asUri(document.uri) ?? document.uri.toString(),
      log: (line) => this.log(line),
    });
    this.disposables.push(this.nextEdit);
  }

  dispose(): void {
    this.disposables.forEach((d) => d.dispose());
    this.statusItem.dispose();
    if (this.statusTimer) {
      clearTimeout(this.statusTimer);
    }
    void this.client?.dispose();
    this.client = undefined;
    this.output.dispose();
  }

  private log(line: string): void {
    this.output.appendLine(`[dllm ${new Date().toLocaleTimeString()}] ${line}`);
  }

  private render(): void {
    const v = this.status.view();
    this.statusItem.text = v.text;
    this.statusItem.tooltip = v.tooltip;
    this.statusItem.backgroundColor =
      v.severity === 'error'
        ? new vscode.ThemeColor('statusBarItem.errorBackground')
        : v.severity === 'warning'
          ? new vscode.ThemeColor('statusBarItem.warningBackground')
          : undefined;
  }

  // ---- lifecycle -------------------------------------------------------------------------

  start(): Promise<void> {
    return this.serially(() => this.doStart());
  }

  stop(): Promise<void> {
    return this.serially(() => this.doStop());
  }

  restart(): Promise<void> {
    return this.serially(async () => {
      await this.doStop();
      await this.doStart();
    });
  }

  private serially(step: () => Promise<void>): Promise<void> {
    this.lifecycle = this.lifecycle.then(step, step);
    return this.lifecycle;
  }

  private async doStart(): Promise<void> {
    const cfg = config();
    const resolution = resolveServerPath({
      configured: cfg.get<string>('serverPath') ?? '',
      pathVar: process.env.PATH,
      pathExt: process.env.PATHEXT,
      workspaceFolder: vscode.workspace.workspaceFolders?.[0]?.uri.fsPath,
    });
    if (!resolution.ok) {
      this.log(resolution.message);
      this.status.stopped('server binary not found');
      this.render();
      void this.notFound(resolution.message);
      return;
    }
    const settings = serverSettings();
    const launch = serverLaunch(resolution.path, serverEnv(process.env, settings));
    this.log(`starting ${launch.command} ${launch.args.join(' ')} (from ${resolution.source})`);
    const serverOptions: ServerOptions = {
      command: launch.command,
      args: launch.args,
      options: { env: launch.env },
    };
    const clientOptions: LanguageClientOptions = {
      documentSelector: LANGUAGES.flatMap((language) => [
        { scheme: 'file', language },
        { scheme: 'untitled', language },
      ]),
      // Read at every (re)start, so a restart picks up the current settings.
      initializationOptions: () => serverSettings(),
      outputChannel: this.output,
      // Failures are reported by the commands themselves; typing must never pop up errors.
      revealOutputChannelOn: RevealOutputChannelOn.Never,
      middleware: this.middleware(),
    };
    const client = new LanguageClient('dllm', 'dllm-ls', serverOptions, clientOptions);
    client.registerProposedFeatures(); // LSP 3.18 textDocument/inlineCompletion
    client.onDidChangeState((e) => {
      if (e.newState === State.Stopped && this.client === client) {
        this.status.stopped('the server stopped; see the log');
        this.render();
      } else if (e.newState === State.Running && this.client === client) {
        // Also after vscode-languageclient restarted a crashed server by itself.
        void this.refreshStatus();
      }
    });
    this.client = client;
    this.status.starting();
    this.render();
    try {
      await client.start();
    } catch (e) {
      this.log(`the server failed to start: ${String(e)}`);
      this.status.stopped('the server failed to start; see the log');
      this.render();
      void vscode.window
        .showErrorMessage(`dllm: ${launch.command} failed to start: ${String(e)}`, 'Show log')
        .then((a) => a && this.output.show(true));
      return;
    }
    await this.refreshStatus();
  }

  private async doStop(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    this.nextEdit.reset();
    if (this.statusTimer) {
      clearTimeout(this.statusTimer);
      this.statusTimer = undefined;
    }
    if (client) {
      try {
        await client.dispose(2000);
      } catch (e) {
        this.log(`stopping the server: ${String(e)}`);
      }
    }
    this.status.stopped();
    this.render();
  }

  private async notFound(message: string): Promise<void> {
    const install = 'How to install';
    const settings = 'Set dllm.serverPath';
    const choice = await vscode.window.showErrorMessage(message, install, settings);
    if (choice === install) {
      const readme = vscode.Uri.joinPath(this.context.extensionUri, 'README.md');
      await vscode.commands.executeCommand('markdown.showPreview', readme);
    } else if (choice === settings) {
      await vscode.commands.executeCommand('workbench.action.openSettings', 'dllm.serverPath');
    }
  }

  /** Asks `dllm.status`; keeps asking every half second while the model loads. */
  private async refreshStatus(): Promise<void> {
    const client = this.client;
    if (!client || client.state !== State.Running || this.statusQuery) {
      return;
    }
    if (this.statusTimer) {
      clearTimeout(this.statusTimer);
      this.statusTimer = undefined;
    }
    this.statusQuery = true;
    try {
      const raw = await client.sendRequest(ExecuteCommandRequest.type, statusParams());
      if (client !== this.client) {
        return;
      }
      this.status.modelState(parseStatus(raw));
      this.status.nextEditEnabled(parseNextEditEnabled(raw));
      this.render();
    } catch (e) {
      this.log(`dllm.status failed: ${String(e)}`);
      return;
    } finally {
      this.statusQuery = false;
    }
    if (this.status.settling()) {
      this.statusTimer = setTimeout(() => void this.refreshStatus(), 500);
    }
  }

  // ---- middleware: inline completions, completion items, code actions, progress -----------

  private middleware(): Middleware {
    return {
      provideInlineCompletionItems: async (document, position, context, token, next) => {
        const cfg = config();
        if (!cfg.get<boolean>('inlineCompletion.enabled', true)) {
          return undefined;
        }
        const debounce = cfg.get<number>('inlineCompletion.debounceMs', 150);
        if (debounce > 0 && context.triggerKind === vscode.InlineCompletionTriggerKind.Automatic) {
          await sleep(debounce, token);
          if (token.isCancellationRequested) {
            return undefined;
          }
        }
        const started = Date.now();
        this.status.begin();
        this.render();
        let count: number | undefined;
        try {
          // vscode-languageclient 9 copies selectedCompletionInfo verbatim: a VS Code Range, which
          // serialises as [start, end] rather than an LSP Range. dllm-ls does not use it: leave it out.
          const result = await next(document, position, { triggerKind: context.triggerKind, selectedCompletionInfo: undefined }, token);
          if (!result || token.isCancellationRequested) {
            return undefined;
          }
          const items = Array.isArray(result) ? result : result.items;
          const lsp: LspInlineItem[] = items.map((i) => ({
            insertText: typeof i.insertText === 'string' ? i.insertText : { value: i.insertText.value },
            range: i.range,
          }));
          const fitted = normalizeItems(lsp, position, document.lineAt(position.line).text);
          fitted.dropped.forEach((why) => this.log(`inline completion dropped: ${why}`));
          count = fitted.items.length;
          return fitted.items.map(
            (i) =>
              new vscode.InlineCompletionItem(
                i.insertText,
                new vscode.Range(i.range.start.line, i.range.start.character, i.range.end.line, i.range.end.character),
              ),
          );
        } finally {
          this.status.end(count ? Date.now() - started : undefined);
          this.render();
        }
      },
      // The server answers textDocument/completion with the same model run as the inline
      // suggestion, and one cancels the other: only ask when the user wants completion items.
      provideCompletionItem: (document, position, context, token, next) =>
        config().get<boolean>('completionItems.enabled', false) ? next(document, position, context, token) : undefined,
      resolveCodeAction: async (item, token, next) => {
        this.status.begin();
        this.render();
        try {
          return await next(item, token);
        } catch (e) {
          if (!token.isCancellationRequested) {
            void show(describeError(item.title, e));
          }
          return item;
        } finally {
          this.status.end();
          this.render();
        }
      },
      handleWorkDoneProgress: (token, params, next) => {
        // The server's model load: "loading …", then "ready: …" or "model failed to load".
        this.status.progress(params);
        this.render();
        if (params.kind === 'end') {
          void this.refreshStatus();
        }
        next(token, params);
      },
    };
  }

  // ---- settings ----------------------------------------------------------------------------

  private configurationChanged(e: vscode.ConfigurationChangeEvent): void {
    if (!e.affectsConfiguration('dllm')) {
      return;
    }
    const { server, restart } = affectedKeys((s) => e.affectsConfiguration(s));
    if (restart.includes('serverPath')) {
      this.log('dllm.serverPath changed: restarting the server');
      void this.restart();
      return;
    }
    const client = this.client;
    if (server.length > 0 && client && client.state === State.Running) {
      this.log(`settings changed: ${server.join(', ')}`);
      void client
        .sendNotification(DidChangeConfigurationNotification.type, configurationChangeParams(serverSettings()))
        .then(() => {
          if (server.includes('model') || server.includes('dtype') || server.includes('bf16Products')) {
            // The server reloads the model; follow it.
            this.status.modelState({ state: 'loading', model: '' });
            this.render();
            setTimeout(() => void this.refreshStatus(), 200);
          } else if (server.includes('nextEditSuggestions')) {
            void this.refreshStatus(); // the tooltip says whether next edits are on
          }
        });
    }
    if (restart.includes('logLevel') && client) {
      void vscode.window
        .showInformationMessage('dllm: the new log level applies when the server restarts.', 'Restart now')
        .then((a) => a && this.restart());
    }
  }

  // ---- commands ------------------------------------------------------------------------------

  /** The active editor, if dllm-ls serves its document; says why not otherwise. */
  private servedEditor(): vscode.TextEditor | undefined {
    const editor = vscode.window.activeTextEditor;
    if (!editor) {
      void vscode.window.showWarningMessage('dllm: open a file first.');
      return undefined;
    }
    const doc = editor.document;
    if (!(LANGUAGES as readonly string[]).includes(doc.languageId) || !['file', 'untitled'].includes(doc.uri.scheme)) {
      void vscode.window.showWarningMessage(
        `dllm: ${doc.languageId} files are not served (dllm-ls serves ${LANGUAGES.join(', ')}).`,
      );
      return undefined;
    }
    if (!this.client || this.client.state !== State.Running) {
      void vscode.window.showWarningMessage('dllm: the server is not running.', 'Restart server', 'Show log').then((a) => {
        if (a === 'Restart server') {
          void this.restart();
        } else if (a === 'Show log') {
          this.output.show(true);
        }
      });
      return undefined;
    }
    return editor;
  }

  private async rewriteSelection(): Promise<void> {
    const editor = this.servedEditor();
    if (!editor || !this.client) {
      return;
    }
    if (editor.selection.isEmpty) {
      void vscode.window.showWarningMessage('dllm: select the code to rewrite first.');
      return;
    }
    const selection = editor.selection;
    const version = editor.document.version;
    const instruction = await vscode.window.showInputBox({
      title: 'dllm: Rewrite selection',
      prompt: 'An instruction (optional; only instruction-following checkpoints use it). Enter: rewrite; Escape: cancel.',
      placeHolder: 'e.g. use an iterator instead of the loop',
      ignoreFocusOut: true,
    });
    if (instruction === undefined) {
      return;
    }
    if (editor.document.version !== version) {
      void vscode.window.showWarningMessage('dllm: the document changed meanwhile; run Rewrite selection again.');
      return;
    }
    const uri = this.client.code2ProtocolConverter.asUri(editor.document.uri);
    await this.runServerCommand('Rewrite selection', rewriteParams(uri, selection, instruction));
  }

  private async atCursor(
    title: string,
    params: (uri: string, position: vscode.Position) => ExecuteCommandParams,
  ): Promise<void> {
    const editor = this.servedEditor();
    if (!editor || !this.client) {
      return;
    }
    const uri = this.client.code2ProtocolConverter.asUri(editor.document.uri);
    await this.runServerCommand(title, params(uri, editor.selection.active));
  }

  /**
   * Runs a server command. The server computes the edit and sends it back with
   * workspace/applyEdit (vscode-languageclient applies it, refusing it if the document changed
   * meanwhile), then answers `{applied, notes}`.
   */
  private async runServerCommand(title: string, params: ExecuteCommandParams): Promise<void> {
    const client = this.client;
    if (!client) {
      return;
    }
    await vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: `dllm: ${title}…`, cancellable: true },
      async (_progress, token) => {
        this.status.begin();
        this.render();
        try {
          const raw = await client.sendRequest(ExecuteCommandRequest.type, params, token);
          const message = describeCommandResult(title, parseCommandResult(raw));
          this.log(`${title}: ${JSON.stringify(raw)}`);
          if (message) {
            void show(message);
          }
        } catch (e) {
          this.log(`${title} failed: ${String(e)}`);
          if (!token.isCancellationRequested) {
            void show(describeError(title, e));
          }
        } finally {
          this.status.end();
          this.render();
        }
      },
    );
  }

  private async statusMenu(): Promise<void> {
    const items: (vscode.QuickPickItem & { run: () => unknown })[] = [
      { label: '$(output) Show log', run: () => this.output.show(true) },
      { label: '$(debug-restart) Restart server', run: () => this.restart() },
      { label: '$(settings-gear) Settings', run: () => vscode.commands.executeCommand('workbench.action.openSettings', 'dllm') },
      {
        label: '$(sparkle) Rewrite selection…',
        run: () => vscode.commands.executeCommand(EXTENSION_COMMANDS.rewriteSelection),
      },
      { label: '$(wand) Fill holes', run: () => vscode.commands.executeCommand(EXTENSION_COMMANDS.fillHoles) },
      { label: '$(fold) Complete block', run: () => vscode.commands.executeCommand(EXTENSION_COMMANDS.completeBlock) },
    ];
    const pick = await vscode.window.showQuickPick(items, { title: this.status.view().tooltip.split('\n')[0] });
    await pick?.run();
  }
}
