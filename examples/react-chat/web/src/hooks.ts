import { createTetherHooks } from '@tether/react';
import type { ChatEvents } from './events';

// The hooks, typed by this app's events once: payloads and replies are checked everywhere.
export const { useConnectionState, useRoom, useEvent, usePresence, useRequest } =
  createTetherHooks<ChatEvents>();
