import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdirSync } from 'node:fs';
import pg from 'pg';

/** The machine's PostgreSQL (trust auth); override with TETHER_TEST_PG. */
const SERVER = process.env.TETHER_TEST_PG ?? 'postgres://postgres@127.0.0.1:5432';

/** A database of one test run, dropped at the end. */
export interface TestDatabase {
  url: string;
  name: string;
  drop(): Promise<void>;
}

/**
 * Creates `tether_test_<random>` so runs never share state.
 *
 * @example
 * ```ts
 * const db = await createTestDatabase();
 * afterAll(() => db.drop());
 * ```
 */
export async function createTestDatabase(): Promise<TestDatabase> {
  const name = `tether_test_${randomBytes(6).toString('hex')}`;
  const admin = await connectAdmin();
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  return {
    url: `${SERVER}/${name}`,
    name,
    drop: async () => {
      const client = new pg.Client({ connectionString: `${SERVER}/postgres` });
      await client.connect();
      try {
        await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await client.end();
      }
    },
  };
}

/** A schema name no other test uses. */
export const uniqueSchema = () => `s_${randomBytes(5).toString('hex')}`;

/**
 * Connects to the server's `postgres` database. When nothing listens (the machine's cluster is
 * stopped), starts the local Debian cluster once and tries again.
 */
async function connectAdmin(): Promise<pg.Client> {
  try {
    const client = new pg.Client({ connectionString: `${SERVER}/postgres` });
    await client.connect();
    return client;
  } catch (error) {
    if ((error as { code?: string }).code !== 'ECONNREFUSED' || process.env.TETHER_TEST_PG) throw error;
    const versions = (() => {
      try {
        return readdirSync('/etc/postgresql');
      } catch {
        return [];
      }
    })();
    const [version] = versions;
    if (version === undefined) throw error;
    const started = spawnSync('pg_ctlcluster', ['--skip-systemctl-redirect', version, 'main', 'start'], {
      encoding: 'utf8',
    });
    if (started.status !== 0)
      throw new Error(`PostgreSQL is down and did not start: ${started.stderr}`, { cause: error });
    const client = new pg.Client({ connectionString: `${SERVER}/postgres` });
    await client.connect();
    return client;
  }
}
