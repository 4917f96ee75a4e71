import { TetherClient } from '@tether/client';
import { startTestNode, type TestNode, type TetherKit, until, waitForState } from '@tether/test-utils';
import {
  CloseCode,
  type TetherError,
  TetherError as TetherErrorClass,
  TetherServer,
  type TetherServerOptions,
} from '../src/index.js';

export { type TestNode, until, waitForState };

/** The classes the shared suites of `@tether/test-utils/suites` run against: this package's sources. */
export const kit: TetherKit = { TetherServer, TetherClient, TetherError: TetherErrorClass, CloseCode };

/** A TetherServer on a fresh http server on a free loopback port, with clients that are all closed at the end. */
export function startNode(options: TetherServerOptions = {}, port = 0): Promise<TestNode> {
  return startTestNode(kit, options, port);
}

/** The error a promise rejects with (fails the test when it resolves). */
export async function rejectionOf(promise: Promise<unknown>): Promise<TetherError> {
  try {
    await promise;
  } catch (err) {
    return err as TetherError;
  }
  throw new Error('expected the promise to reject');
}
