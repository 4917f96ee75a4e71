import type { PageHost, PageWatch } from './client-options.js';
import type { SilenceWatch } from './silence-watch.js';

/**
 * The browser page's lifecycle, for one client (docs/api.md, "Page lifecycle"). It runs the
 * client's reconnect waits: a wait ends at once when the page comes back (`online`, visible
 * again, `resume` after a freeze, `pageshow` from the back-forward cache), and no wait runs while
 * `navigator.onLine` is false, so an offline page does not spend its backoff on attempts that
 * cannot succeed. Coming back also checks the server's heartbeat: timers are throttled in hidden
 * pages and stopped in frozen ones, so a connection that went silent past its deadline meanwhile
 * is dropped now rather than whenever the throttled timer runs. Listens only while the client is
 * not closed.
 *
 * @example
 * const page = watchPage(client, silence);
 * setTimeoutLike = page.wait; // page.wait(() => reconnect(), 800)
 */
export function watchPage(client: PageHost, silence: SilenceWatch): PageWatch {
  let pending: { run: () => void; timer?: ReturnType<typeof setTimeout> } | undefined;
  const runNow = () => {
    const wait = pending;
    pending = undefined;
    clearTimeout(wait?.timer);
    wait?.run();
  };
  const onPage = (event: Event) => {
    if (event.type === 'offline') clearTimeout(pending?.timer);
    else if (event.type !== 'visibilitychange' || !document.hidden) {
      // Restored from the back-forward cache (`persisted`): the socket it had is dead.
      silence.check((event as PageTransitionEvent).persisted);
      if (navigator.onLine !== false) runNow();
    }
  };
  client.on('state', (state) => {
    if (state === 'closed') pending = undefined;
    // Capture on window also sees `visibilitychange` and `resume`, which are fired at the document.
    for (const type of ['online', 'offline', 'pageshow', 'visibilitychange', 'resume'])
      window[state === 'closed' ? 'removeEventListener' : 'addEventListener'](type, onPage, true);
  });
  return {
    wait: (run, ms) => {
      pending = { run };
      if (navigator.onLine !== false) pending.timer = setTimeout(runNow, ms);
      return pending.timer;
    },
  };
}
