// The hub's typed error (shared by the client and the cache, so that neither imports the other for it).
export type HubErrorCode =
  | 'invalid-id'
  | 'not-found'
  | 'unauthorized'
  | 'forbidden'
  | 'network'
  | 'http'
  | 'bad-response'
  | 'integrity'
  | 'offline-not-cached'
  | 'no-files'
  /** the cache holds a path that would lead a write outside it (a planted symlink) */
  | 'unsafe-cache';

export class HubError extends Error {
  constructor(
    readonly code: HubErrorCode,
    message: string,
    /** HTTP status, when the hub answered with an error. */
    readonly status?: number,
    /** Worth retrying: a network failure or HTTP 429/5xx. */
    readonly transient = false,
  ) {
    super(message);
    this.name = 'HubError';
  }
}
