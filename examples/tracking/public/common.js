// Small helpers shared by the driver and customer pages.

/** The order id from `?order=...`, or a new one (put back into the URL so it can be shared). */
export function orderFromUrl() {
  const params = new URLSearchParams(location.search);
  let order = (params.get('order') ?? '')
    .toLowerCase()
    .replace(/[^a-z0-9-]/g, '')
    .slice(0, 16);
  if (!order) {
    order = String(1000 + Math.floor(Math.random() * 9000));
    params.set('order', order);
    history.replaceState(null, '', `${location.pathname}?${params}`);
  }
  return order;
}

/** Keeps a badge element in step with the client's connection state. */
export function showConnection(client, badge) {
  const show = (state) => {
    badge.dataset.state = state;
    badge.dataset.transport = client.transport ?? '';
    badge.textContent =
      state === 'open'
        ? `live · ${client.transport}`
        : state === 'reconnecting'
          ? 'reconnecting…'
          : state === 'connecting'
            ? 'connecting…'
            : 'offline';
  };
  client.on('state', show);
  show(client.state);
}

export const STATUS_LABELS = {
  placed: 'Order placed',
  'picked-up': 'Picked up',
  'on-the-way': 'On the way',
  delivered: 'Delivered',
};
export const STATUSES = Object.keys(STATUS_LABELS);

export const clock = new Intl.DateTimeFormat(undefined, {
  hour: '2-digit',
  minute: '2-digit',
  second: '2-digit',
});
