/** The one error a `DaemonApi` raises: the daemon's (or language server's) refusal, or no answer at all. */

import { isNumber, isRecord, isString } from './validate';

export class DaemonError extends Error {
  override readonly name = 'DaemonError';

  /**
   * @param status the HTTP status, 0 when the daemon could not be reached, or the JSON-RPC
   *   error code when the language server refused
   * @param code the daemon's stable error code (`run_not_found`, `unauthorized`…) or `unreachable`
   */
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }

  /** The error from a daemon's JSON error body (`{"error": {status, code, message}}`), if it is one. */
  static fromBody(status: number, body: unknown): DaemonError {
    const detail = isRecord(body) && isRecord(body.error) ? body.error : undefined;
    const code = detail && isString(detail.code) ? detail.code : `http_${status}`;
    const message = detail && isString(detail.message) ? detail.message : `the daemon answered ${status}`;
    return new DaemonError(detail && isNumber(detail.status) ? detail.status : status, code, message);
  }
}

/** A sentence for the user, whatever was thrown. */
export function errorMessage(error: unknown): string {
  if (error instanceof Error) {
    return error.message;
  }
  return String(error);
}
