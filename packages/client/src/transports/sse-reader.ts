import { createParser, type EventSourceMessage } from 'eventsource-parser';

export type { EventSourceMessage };

/**
 * Reads a `text/event-stream` body to its end, calling `onEvent` for every event (comments and
 * `retry:` lines are skipped). Resolves when the stream ends; rejects when it breaks or is aborted.
 * Works on any WHATWG `ReadableStream` of bytes: fetch in browsers and Node alike.
 *
 * @example
 * const res = await fetch(url, { headers: { accept: 'text/event-stream' } });
 * await readEventStream(res.body!, (e) => console.log(e.event, e.data));
 */
export async function readEventStream(
  body: ReadableStream<Uint8Array>,
  onEvent: (event: EventSourceMessage) => void,
): Promise<void> {
  const parser = createParser({ onEvent });
  const decoder = new TextDecoder();
  const reader = body.getReader();
  try {
    // Ends with the stream: the server ends it, the network drops it, or the caller aborts the fetch.
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      parser.feed(decoder.decode(value, { stream: true }));
    }
  } finally {
    reader.releaseLock();
  }
}
