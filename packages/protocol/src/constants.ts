/** Version of the wire protocol this module speaks. */
export const PROTOCOL_VERSION = 1;

/** Query parameters of the endpoint URL (WebSocket upgrade and SSE stream). */
export const QUERY = {
  /** base64url of the JSON the client's `auth` option produced. */
  auth: 'auth',
  /** Transport marker for the SSE stream request. */
  transport: 'transport',
} as const;
