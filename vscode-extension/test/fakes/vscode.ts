/**
 * A small fake of the `vscode` module: the parts of the API the extension's modules touch, with
 * state tests can read (the status-bar items, the webview panels and what they were sent, the
 * registered commands, the settings). vitest aliases `vscode` to this file.
 */

type Listener<T> = (value: T) => unknown;

export class Disposable {
  constructor(private readonly callback: () => void = () => undefined) {}
  static from(...items: { dispose(): unknown }[]): Disposable {
    return new Disposable(() => items.forEach((item) => item.dispose()));
  }
  dispose(): void {
    this.callback();
  }
}

export class EventEmitter<T> {
  private readonly listeners = new Set<Listener<T>>();
  readonly event = (listener: Listener<T>): Disposable => {
    this.listeners.add(listener);
    return new Disposable(() => this.listeners.delete(listener));
  };
  fire(value: T): void {
    for (const listener of [...this.listeners]) {
      listener(value);
    }
  }
  dispose(): void {
    this.listeners.clear();
  }
}

export class ThemeColor {
  constructor(readonly id: string) {}
}

export class ThemeIcon {
  constructor(
    readonly id: string,
    readonly color?: ThemeColor,
  ) {}
}

export enum TreeItemCollapsibleState {
  None = 0,
  Collapsed = 1,
  Expanded = 2,
}

export class TreeItem {
  id?: string;
  description?: string;
  tooltip?: string | MarkdownString;
  iconPath?: ThemeIcon;
  contextValue?: string;
  command?: { command: string; title: string; arguments?: unknown[] };
  constructor(
    readonly label: string,
    readonly collapsibleState: TreeItemCollapsibleState = TreeItemCollapsibleState.None,
  ) {}
}

export class MarkdownString {
  value = '';
  constructor(value = '', readonly supportThemeIcons = false) {
    this.value = value;
  }
  appendMarkdown(text: string): this {
    this.value += text;
    return this;
  }
}

export class Uri {
  private constructor(
    readonly scheme: string,
    readonly authority: string,
    readonly path: string,
    readonly query = '',
  ) {}
  static from(parts: { scheme: string; authority?: string; path?: string; query?: string }): Uri {
    return new Uri(parts.scheme, parts.authority ?? '', parts.path ?? '', parts.query ?? '');
  }
  static parse(text: string): Uri {
    const url = new URL(text);
    return new Uri(url.protocol.replace(/:$/, ''), url.host, decodeURIComponent(url.pathname) + url.search);
  }
  static file(path: string): Uri {
    return new Uri('file', '', path);
  }
  static joinPath(base: Uri, ...parts: string[]): Uri {
    return new Uri(base.scheme, base.authority, [base.path.replace(/\/$/, ''), ...parts].join('/'));
  }
  get fsPath(): string {
    return this.path;
  }
  toString(): string {
    return `${this.scheme}://${this.authority}${this.path}${this.query === '' ? '' : `?${this.query}`}`;
  }
}

export enum StatusBarAlignment {
  Left = 1,
  Right = 2,
}

export enum ViewColumn {
  Active = -1,
  Beside = -2,
  One = 1,
}

export enum ProgressLocation {
  SourceControl = 1,
  Window = 10,
  Notification = 15,
}

export enum UIKind {
  Desktop = 1,
  Web = 2,
}

export class FakeStatusBarItem {
  text = '';
  tooltip: string | undefined;
  command: string | undefined;
  name: string | undefined;
  backgroundColor: ThemeColor | undefined;
  visible = false;
  disposed = false;
  constructor(
    readonly id: string,
    readonly alignment: StatusBarAlignment,
    readonly priority: number,
  ) {}
  show(): void {
    this.visible = true;
  }
  hide(): void {
    this.visible = false;
  }
  dispose(): void {
    this.disposed = true;
  }
}

export class FakeWebview {
  html = '';
  readonly cspSource = 'https://fake.vscode-cdn.net';
  readonly posted: unknown[] = [];
  private readonly received = new EventEmitter<unknown>();
  readonly onDidReceiveMessage = (listener: Listener<unknown>): Disposable => this.received.event(listener);
  constructor(public options: unknown) {}
  postMessage(message: unknown): Promise<boolean> {
    // What a real webview gets is a structured clone: JSON is close enough for our messages.
    this.posted.push(JSON.parse(JSON.stringify(message)));
    return Promise.resolve(true);
  }
  asWebviewUri(uri: Uri): Uri {
    return Uri.parse(`https://fake.vscode-cdn.net${uri.path}`);
  }
  /** Test side: the webview script posts a message to the host. */
  send(message: unknown): void {
    this.received.fire(message);
  }
}

export class FakeWebviewPanel {
  readonly webview: FakeWebview;
  iconPath: Uri | undefined;
  disposed = false;
  revealed = 0;
  private readonly disposedEmitter = new EventEmitter<void>();
  readonly onDidDispose = (listener: Listener<void>): Disposable => this.disposedEmitter.event(listener);
  constructor(
    readonly viewType: string,
    public title: string,
    readonly showOptions: unknown,
    options: unknown,
  ) {
    this.webview = new FakeWebview(options);
  }
  reveal(): void {
    this.revealed++;
  }
  dispose(): void {
    if (!this.disposed) {
      this.disposed = true;
      this.disposedEmitter.fire();
    }
  }
}

/** What tests inspect and steer. */
export const fake = {
  statusBarItems: [] as FakeStatusBarItem[],
  panels: [] as FakeWebviewPanel[],
  serializers: new Map<string, unknown>(),
  commands: new Map<string, (...args: unknown[]) => unknown>(),
  executed: [] as { command: string; args: unknown[] }[],
  settings: new Map<string, unknown>(),
  messages: [] as { level: 'info' | 'warning' | 'error'; text: string }[],
  quickPickChoice: undefined as ((items: unknown[]) => unknown) | undefined,
  inputBoxAnswers: [] as (string | undefined)[],
  workspaceFolders: undefined as { uri: Uri; name: string; index: number }[] | undefined,
  /** Files `workspace.fs` reads, by path. */
  files: new Map<string, string>(),
  /** Documents opened with `workspace.openTextDocument({language, content})`, and shown. */
  documents: [] as { language: string; content: string }[],
  shown: [] as unknown[],
  contentProviders: new Map<string, { provideTextDocumentContent(uri: Uri): string }>(),
  reset(): void {
    this.files.clear();
    this.documents.length = 0;
    this.shown.length = 0;
    this.contentProviders.clear();
    this.statusBarItems.length = 0;
    this.panels.length = 0;
    this.serializers.clear();
    this.commands.clear();
    this.executed.length = 0;
    this.settings.clear();
    this.messages.length = 0;
    this.quickPickChoice = undefined;
    this.inputBoxAnswers.length = 0;
    this.workspaceFolders = undefined;
  },
};

export const window = {
  createStatusBarItem(id: string, alignment: StatusBarAlignment, priority: number): FakeStatusBarItem {
    const item = new FakeStatusBarItem(id, alignment, priority);
    fake.statusBarItems.push(item);
    return item;
  },
  registerWebviewPanelSerializer(viewType: string, serializer: unknown): Disposable {
    fake.serializers.set(viewType, serializer);
    return new Disposable(() => fake.serializers.delete(viewType));
  },
  createWebviewPanel(viewType: string, title: string, showOptions: unknown, options: unknown): FakeWebviewPanel {
    const panel = new FakeWebviewPanel(viewType, title, showOptions, options);
    fake.panels.push(panel);
    return panel;
  },
  createOutputChannel(): { info(): void; warn(): void; error(): void; dispose(): void } {
    return { info: () => undefined, warn: () => undefined, error: () => undefined, dispose: () => undefined };
  },
  createTreeView(): Disposable {
    return new Disposable();
  },
  showInformationMessage(text: string): Promise<undefined> {
    fake.messages.push({ level: 'info', text });
    return Promise.resolve(undefined);
  },
  showWarningMessage(text: string): Promise<undefined> {
    fake.messages.push({ level: 'warning', text });
    return Promise.resolve(undefined);
  },
  showErrorMessage(text: string): Promise<undefined> {
    fake.messages.push({ level: 'error', text });
    return Promise.resolve(undefined);
  },
  showQuickPick(items: unknown[]): Promise<unknown> {
    return Promise.resolve(fake.quickPickChoice?.(items));
  },
  showInputBox(): Promise<string | undefined> {
    return Promise.resolve(fake.inputBoxAnswers.shift());
  },
  withProgress<T>(_options: unknown, task: () => Promise<T>): Promise<T> {
    return task();
  },
  showTextDocument(document: unknown): Promise<unknown> {
    fake.shown.push(document);
    return Promise.resolve(undefined);
  },
};

export const commands = {
  registerCommand(id: string, handler: (...args: unknown[]) => unknown): Disposable {
    fake.commands.set(id, handler);
    return new Disposable(() => fake.commands.delete(id));
  },
  async executeCommand(command: string, ...args: unknown[]): Promise<unknown> {
    fake.executed.push({ command, args });
    return fake.commands.get(command)?.(...args);
  },
};

export const workspace = {
  getConfiguration(section: string) {
    return {
      get<T>(key: string, fallback?: T): T | undefined {
        const value = fake.settings.get(`${section}.${key}`);
        return value === undefined ? fallback : (value as T);
      },
    };
  },
  get workspaceFolders() {
    return fake.workspaceFolders;
  },
  getWorkspaceFolder(uri: Uri) {
    return fake.workspaceFolders?.find((folder) => uri.toString().startsWith(folder.uri.toString()));
  },
  asRelativePath(uri: Uri): string {
    const folder = fake.workspaceFolders?.find((candidate) => uri.toString().startsWith(candidate.uri.toString()));
    return folder === undefined ? uri.path : uri.path.slice(folder.uri.path.length).replace(/^\//, '');
  },
  onDidChangeConfiguration(): Disposable {
    return new Disposable();
  },
  openTextDocument(options: { language: string; content: string }): Promise<{ language: string; content: string }> {
    fake.documents.push(options);
    return Promise.resolve(options);
  },
  registerTextDocumentContentProvider(scheme: string, provider: { provideTextDocumentContent(uri: Uri): string }): Disposable {
    fake.contentProviders.set(scheme, provider);
    return new Disposable(() => fake.contentProviders.delete(scheme));
  },
  fs: {
    readFile(uri: Uri): Promise<Uint8Array> {
      const text = fake.files.get(uri.path);
      return text === undefined ? Promise.reject(new Error(`no file ${uri.path}`)) : Promise.resolve(new TextEncoder().encode(text));
    },
  },
};

export const env = {
  uiKind: UIKind.Desktop,
  opened: [] as Uri[],
  asExternalUri(uri: Uri): Promise<Uri> {
    return Promise.resolve(uri);
  },
  openExternal(uri: Uri): Promise<boolean> {
    env.opened.push(uri);
    return Promise.resolve(true);
  },
};
