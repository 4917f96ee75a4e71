// Child side of the control channel: { id, cmd, args } in, { id, ok, result | error } out.
export function serve(handlers) {
  process.on('message', async (msg) => {
    if (!msg || msg.id == null) return;
    const h = handlers[msg.cmd];
    try {
      if (!h) throw new Error(`unknown command ${msg.cmd}`);
      const result = await h(msg.args ?? {});
      process.send?.({ id: msg.id, ok: true, result: result ?? null });
    } catch (err) {
      process.send?.({ id: msg.id, ok: false, error: String(err?.stack ?? err) });
    }
    if (msg.cmd === 'exit') setImmediate(() => process.exit(0));
  });
  // If the orchestrator goes away, so do we: never leave a child running.
  process.on('disconnect', () => process.exit(0));
  process.on('uncaughtException', (err) => {
    console.error('uncaughtException', err);
    process.exit(70);
  });
  process.on('unhandledRejection', (err) => {
    console.error('unhandledRejection', err);
    process.exit(71);
  });
  process.send?.({ ready: true });
}
