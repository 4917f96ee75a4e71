// Checks that a stack's adapters (and the packages behind them) load, in a throwaway process.
import { serve } from './worker.mjs';

const short = (e) => String(e?.message ?? e).split('\n')[0];

serve({
  async probe({ stack }) {
    const out = { server: null, client: null, bus: null };
    try {
      const m = await import(`../servers/${stack}-server.mjs`);
      await m.load({});
      try {
        await m.load({ redis: true });
      } catch (e) {
        out.bus = short(e);
      }
    } catch (e) {
      out.server = short(e);
      out.bus = out.server;
    }
    try {
      const m = await import(`../clients/${stack}-client.mjs`);
      await m.load();
      out.supportsLocalAddress = m.supportsLocalAddress !== false;
    } catch (e) {
      out.client = short(e);
    }
    return out;
  },
  exit: () => {},
});
