/**
 * Debug tracing by namespace, off by default, in the manner of the `debug` package: Node reads
 * `DEBUG=tether:*`, a browser `localStorage.debug = 'tether:*'`. Platform-free (no Node import),
 * so the server and the client share it. A call site checks `trace.on` before it builds its
 * arguments, so tracing that is off costs one property read.
 *
 * @example
 * const trace = tracer('tether:server:conn');
 * if (trace.on) trace('opened %s over %s', conn.id, conn.transport);
 */

/** One namespace's trace function: `trace(format, ...args)` prints when its namespace is on. */
export interface Trace {
  (format: string, ...args: unknown[]): void;
  /** True while this namespace is enabled: check it before building arguments. */
  readonly on: boolean;
  readonly namespace: string;
}

/** Where enabled traces go: the namespace, the format string and its arguments (console-style). */
export type TraceWriter = (namespace: string, format: string, args: readonly unknown[]) => void;

interface MutableTrace extends Trace {
  on: boolean;
}

const tracers = new Map<string, MutableTrace>();
let pattern: string | undefined;
let writer: TraceWriter = consoleWriter;
let configured = false;

/** The trace function of a namespace (one per namespace, shared by every caller). */
export function tracer(namespace: string): Trace {
  let trace = tracers.get(namespace);
  if (trace) return trace;
  if (!configured) configureTracing(defaultPattern());
  const fn = ((format: string, ...args: unknown[]) => {
    if (fn.on) writer(namespace, format, args);
  }) as MutableTrace;
  Object.defineProperty(fn, 'namespace', { value: namespace });
  fn.on = namespaceEnabled(pattern, namespace);
  tracers.set(namespace, fn);
  trace = fn;
  return trace;
}

/**
 * Sets which namespaces trace (the `DEBUG` syntax: comma- or space-separated names, `*` as a
 * wildcard, a leading `-` excludes) and, optionally, where the lines go. `undefined` or `''`
 * turns every namespace off.
 *
 * @example
 * configureTracing('tether:*,-tether:server:frame', (ns, format, args) => lines.push(ns));
 */
export function configureTracing(spec: string | undefined, write?: TraceWriter): void {
  configured = true;
  pattern = spec || undefined;
  if (write) writer = write;
  for (const [namespace, trace] of tracers) trace.on = namespaceEnabled(pattern, namespace);
}

/**
 * True when `namespace` matches `spec` (the `DEBUG` syntax).
 *
 * @example
 * namespaceEnabled('tether:*,-tether:client', 'tether:server:conn'); // true
 */
export function namespaceEnabled(spec: string | undefined, namespace: string): boolean {
  if (!spec) return false;
  let enabled = false;
  for (const part of spec.split(/[\s,]+/)) {
    if (!part) continue;
    const negated = part.startsWith('-');
    const name = negated ? part.slice(1) : part;
    if (!matches(name, namespace)) continue;
    if (negated) return false;
    enabled = true;
  }
  return enabled;
}

function matches(glob: string, namespace: string): boolean {
  if (!glob.includes('*')) return glob === namespace;
  const source = glob.split('*').map((piece) => piece.replace(/[.+?^${}()|[\]\\]/g, '\\$&'));
  return new RegExp(`^${source.join('.*')}$`).test(namespace);
}

/** `DEBUG` from the environment on Node, else `localStorage.debug` in a browser. */
function defaultPattern(): string | undefined {
  const scope = globalThis as {
    process?: { env?: Record<string, string | undefined>; versions?: { node?: string } };
    localStorage?: { getItem(key: string): string | null };
  };
  const fromEnv = scope.process?.env?.DEBUG;
  // Node reads DEBUG only (its own Web Storage, where present, is not a debug switch).
  if (fromEnv !== undefined || scope.process?.versions?.node) return fromEnv;
  try {
    return scope.localStorage?.getItem('debug') ?? undefined;
  } catch {
    return undefined; // storage blocked (privacy settings, sandboxed frame)
  }
}

/** Node: one line to stderr (`console.error` formats `%s`, `%d`, `%o`); browsers: the console's debug level. */
function consoleWriter(namespace: string, format: string, args: readonly unknown[]): void {
  const scope = globalThis as { process?: { versions?: { node?: string } } };
  if (scope.process?.versions?.node)
    console.error(`${new Date().toISOString()} ${namespace} ${format}`, ...args);
  else console.debug(`${namespace} ${format}`, ...args);
}
