// A hand-drawn SVG "city" shared by the driver and customer pages, the delivery route through it,
// and the conversion between map points and the lat/lng the pages send.

const SVG = 'http://www.w3.org/2000/svg';
export const WIDTH = 480;
export const HEIGHT = 320;
// The map covers this box (somewhere in Berlin); x grows east, y grows south.
const BOX = { north: 52.53, south: 52.5, west: 13.37, east: 13.42 };

/** The restaurant, a few turns along the streets, then the customer's door, in map points. */
export const ROUTE = [
  [40, 280],
  [40, 200],
  [160, 200],
  [160, 120],
  [280, 120],
  [280, 200],
  [360, 200],
  [360, 40],
  [440, 40],
];

export function toLatLng([x, y]) {
  return {
    lat: BOX.north - (y / HEIGHT) * (BOX.north - BOX.south),
    lng: BOX.west + (x / WIDTH) * (BOX.east - BOX.west),
  };
}

export function toPoint({ lat, lng }) {
  return [
    ((lng - BOX.west) / (BOX.east - BOX.west)) * WIDTH,
    ((BOX.north - lat) / (BOX.north - BOX.south)) * HEIGHT,
  ];
}

/** The point `distance` map units along the route, and the heading there (degrees, 0 = north). */
export function alongRoute(distance) {
  let left = Math.max(0, distance);
  for (let i = 1; i < ROUTE.length; i++) {
    const [x0, y0] = ROUTE[i - 1];
    const [x1, y1] = ROUTE[i];
    const length = Math.hypot(x1 - x0, y1 - y0);
    const heading = (Math.atan2(x1 - x0, y0 - y1) * 180) / Math.PI;
    if (left <= length) {
      const t = length === 0 ? 0 : left / length;
      return { point: [x0 + (x1 - x0) * t, y0 + (y1 - y0) * t], heading: (heading + 360) % 360, done: false };
    }
    left -= length;
  }
  const [x, y] = ROUTE.at(-1);
  return { point: [x, y], heading: 0, done: true };
}

export const ROUTE_LENGTH = ROUTE.slice(1).reduce(
  (sum, [x, y], i) => sum + Math.hypot(x - ROUTE[i][0], y - ROUTE[i][1]),
  0,
);

function el(name, attrs, parent) {
  const node = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, String(value));
  parent?.append(node);
  return node;
}

/**
 * Draws the city into `svg` and returns handles to move the courier and grow its trail.
 *
 * @example
 * const map = drawMap(document.querySelector('#map'));
 * map.moveTo({ lat, lng, heading });
 */
export function drawMap(svg) {
  svg.setAttribute('viewBox', `0 0 ${WIDTH} ${HEIGHT}`);
  svg.replaceChildren();
  el('rect', { x: 0, y: 0, width: WIDTH, height: HEIGHT, fill: '#eef2ea' }, svg);
  el('rect', { x: 190, y: 230, width: 70, height: 60, rx: 8, fill: '#cfe6c3' }, svg);
  el('text', { x: 225, y: 265, 'text-anchor': 'middle', class: 'label' }, svg).textContent = 'park';
  el(
    'path',
    {
      d: 'M0 70 C 90 40, 130 100, 220 80 S 380 20, 480 90',
      fill: 'none',
      stroke: '#b9d4ee',
      'stroke-width': 14,
    },
    svg,
  );
  const streets = el('g', { stroke: '#fff', 'stroke-width': 9, 'stroke-linecap': 'round' }, svg);
  for (let x = 40; x < WIDTH; x += 80) el('line', { x1: x, y1: 0, x2: x, y2: HEIGHT }, streets);
  for (let y = 40; y < HEIGHT; y += 80) el('line', { x1: 0, y1: y, x2: WIDTH, y2: y }, streets);
  el(
    'polyline',
    {
      points: ROUTE.map((p) => p.join(',')).join(' '),
      fill: 'none',
      stroke: '#9fb4d9',
      'stroke-width': 3,
      'stroke-dasharray': '6 6',
    },
    svg,
  );
  const [sx, sy] = ROUTE[0];
  const [ex, ey] = ROUTE.at(-1);
  el('circle', { cx: sx, cy: sy, r: 9, fill: '#f29e4c' }, svg);
  el('text', { x: sx + 14, y: sy + 4, class: 'label' }, svg).textContent = 'restaurant';
  el('circle', { cx: ex, cy: ey, r: 9, fill: '#2f6fed' }, svg);
  el('text', { x: ex - 14, y: ey + 24, 'text-anchor': 'end', class: 'label' }, svg).textContent = 'customer';

  const trail = el(
    'polyline',
    { fill: 'none', stroke: '#1f9d55', 'stroke-width': 4, 'stroke-linecap': 'round' },
    svg,
  );
  const courier = el('g', { id: 'courier', visibility: 'hidden' }, svg);
  el('circle', { r: 11, fill: '#1f9d55', stroke: '#fff', 'stroke-width': 3 }, courier);
  el('path', { d: 'M0 -7 L5 4 L0 1 L-5 4 Z', fill: '#fff' }, courier);
  const points = [];

  return {
    /** Puts the courier at a location (`{ lat, lng, heading }`) and extends the trail. */
    moveTo(location) {
      const [x, y] = toPoint(location);
      courier.setAttribute(
        'transform',
        `translate(${x.toFixed(1)} ${y.toFixed(1)}) rotate(${location.heading ?? 0})`,
      );
      courier.setAttribute('visibility', 'visible');
      points.push(`${x.toFixed(1)},${y.toFixed(1)}`);
      if (points.length > 400) points.shift();
      trail.setAttribute('points', points.join(' '));
    },
  };
}
