/**
 * Options of the SSE endpoints (`sse` in the server options).
 *
 * @example
 * new TetherServer({ server, sse: { compress: true } });
 */
export interface SseOptions {
  /**
   * gzip event streams for requests that accept it. `'native'` (default): only the plain
   * EventSource endpoint (`{path}/events`); `true`: the client transport's stream too; `false`: never.
   */
  compress?: boolean | 'native';
}
