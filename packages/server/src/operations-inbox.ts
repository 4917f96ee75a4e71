import type { IncomingMessage, ServerResponse } from 'node:http';
import { ErrorCode } from '@tether/protocol';
import { refuseRequest } from './http-endpoint.js';
import type { Inbox } from './inbox.js';

/** What the operations page may do with the inbox: read a user's backlog, redrive a dead letter. */
export type OperationsInbox = Pick<Inbox, 'pending' | 'redrive'>;

/**
 * The header a redrive must carry. A cross-site form cannot set it (a script would need a CORS
 * preflight, which this server does not grant), so an admin's cookie alone does not redrive.
 */
export const REDRIVE_HEADER = 'x-tether-operations';

/** Most notifications the page shows for one user. */
const INBOX_LIMIT = 100;

/**
 * `GET {base}/inbox?user=KEY`: the user's pending notifications in delivery order (at most 100,
 * with their data), as JSON. `POST {base}/redrive?id=ID` with the header `x-tether-operations:
 * redrive`: puts the dead letter back in its user's inbox; `{ redriven }` as JSON. The caller has
 * passed the page's `authorize` already.
 *
 * @example
 * if (pathname === `${base}/inbox`) return serveInbox(inbox, req, res, url);
 */
export async function serveInboxRequest(
  inbox: OperationsInbox | undefined,
  action: 'inbox' | 'redrive',
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  if (inbox === undefined) return refuseRequest(res, 404, ErrorCode.BadMessage, 'no inbox');
  const params = new URL(req.url ?? '/', 'http://localhost').searchParams;
  if (action === 'inbox') {
    if (req.method !== 'GET')
      return refuseRequest(res, 405, 'METHOD_NOT_ALLOWED', 'use GET', { allow: 'GET' });
    const user = params.get('user');
    if (!user) return refuseRequest(res, 400, ErrorCode.BadMessage, 'user is required');
    const notes = await inbox.pending(user, { limit: INBOX_LIMIT });
    return json(res, {
      user,
      notifications: notes.map(({ id, event, data, urgent, attempts, createdAt, expiresAt }) => ({
        id,
        event,
        data,
        urgent,
        attempts,
        createdAt,
        expiresAt,
      })),
    });
  }
  if (req.method !== 'POST')
    return refuseRequest(res, 405, 'METHOD_NOT_ALLOWED', 'use POST', { allow: 'POST' });
  if (req.headers[REDRIVE_HEADER] !== 'redrive')
    return refuseRequest(
      res,
      403,
      ErrorCode.Forbidden,
      `a redrive needs the header ${REDRIVE_HEADER}: redrive`,
    );
  const id = params.get('id');
  if (!id) return refuseRequest(res, 400, ErrorCode.BadMessage, 'id is required');
  return json(res, { id, redriven: await inbox.redrive(id) });
}

function json(res: ServerResponse, body: unknown): void {
  res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' });
  res.end(JSON.stringify(body));
}
