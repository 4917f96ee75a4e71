/** Version of the wire protocol this module speaks. */
export const PROTOCOL_VERSION = 1;

/** Query parameters of the endpoint URL (WebSocket upgrade and SSE stream). */
export const QUERY = {
  /**
   * `ah=1`: the client sends its credentials in `hello.a`, so `authenticate` runs when the hello
   * arrives. Without it, `authenticate` runs on the HTTP request (cookies, headers) before the upgrade.
   */
  authInHello: 'ah',
  /** Transport marker for the SSE stream request. */
  transport: 'transport',
} as const;
