import { TetherClient } from '@tether/client';
import { CloseCode, TetherError, TetherServer } from '@tether/server';
import type { TetherKit } from '@tether/test-utils';

/** The classes the shared suites of `@tether/test-utils/suites` run against. */
export const kit: TetherKit = { TetherServer, TetherClient, TetherError, CloseCode };
