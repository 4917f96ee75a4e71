import { inboxContract } from '@tether/test-utils';
import { afterAll, beforeAll } from 'vitest';
import { PostgresInbox } from '../src/postgres-inbox.js';
import { createTestDatabase, type TestDatabase, uniqueSchema } from './database.js';

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  await db?.drop();
});

inboxContract('PostgresInbox', async () => {
  // A schema per test: every inbox opened for it is another node on the same store.
  const schema = uniqueSchema();
  const open = async () => {
    const inbox = new PostgresInbox({
      connectionString: db.url,
      schema,
      sweepIntervalMs: 50,
      dedupWindowMs: 60_000,
    });
    await inbox.ready();
    return inbox;
  };
  return { open, durable: true };
});
