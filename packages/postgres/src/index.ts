/**
 * @tether/postgres: Tether's durable inbox on PostgreSQL.
 *
 * @example
 * import { PostgresInbox } from '@tether/postgres';
 * const inbox = new PostgresInbox({ connectionString: 'postgres://127.0.0.1:5432/app' });
 */
export { LATEST_VERSION as INBOX_SCHEMA_VERSION } from './migrations.js';
export { type PgQueryable, PostgresInbox, type PostgresInboxOptions } from './postgres-inbox.js';
