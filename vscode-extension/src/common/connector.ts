/** How an entry point reaches the daemon: the desktop through the language server, the web over HTTP. */

import type { DaemonApi } from './daemon/api';

export interface Connector {
  /** Connects when it can without asking anything (desktop: starts the server; web: stored credentials). */
  start(): Promise<DaemonApi | undefined>;
  /** Asks the user how to connect (web: the URL and token); undefined when they gave up. */
  connect(args?: unknown): Promise<DaemonApi | undefined>;
  /** Forgets stored credentials, if there are any. */
  forget(): Promise<void>;
  dispose(): void;
}
