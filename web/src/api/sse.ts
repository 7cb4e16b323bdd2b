// Server-Sent Events read with fetch (EventSource cannot send the Authorization header): the
// job monitor and the playground both stream through here.
import { accessToken } from './session';

/** Parses a block of SSE text; returns the complete events and the unfinished rest. */
export function parseSse(buffer: string): { events: { id?: string; event?: string; data: string }[]; rest: string } {
  const blocks = buffer.split(/\r?\n\r?\n/);
  const rest = blocks.pop() ?? '';
  const events = blocks.flatMap((block) => {
    const e: { id?: string; event?: string; data: string[] } = { data: [] };
    for (const line of block.split(/\r?\n/)) {
      if (line.startsWith(':')) continue;
      const colon = line.indexOf(':');
      const field = colon < 0 ? line : line.slice(0, colon);
      const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
      if (field === 'data') e.data.push(value);
      else if (field === 'id') e.id = value;
      else if (field === 'event') e.event = value;
    }
    return e.data.length > 0 ? [{ id: e.id, event: e.event, data: e.data.join('\n') }] : [];
  });
  return { events, rest };
}

/** The events of an SSE body, as they arrive. */
export async function* readSse(body: ReadableStream<BufferSource>): AsyncGenerator<{ id?: string; event?: string; data: string }> {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    const parsed = parseSse(buffer + value);
    buffer = parsed.rest;
    yield* parsed.events;
  }
}

/** A request that answers with a stream, carrying the session's bearer token. */
export async function fetchStream(path: string, init: RequestInit = {}): Promise<Response> {
  const token = await accessToken();
  const headers = new Headers(init.headers);
  headers.set('Accept', 'text/event-stream');
  if (token) headers.set('Authorization', `Bearer ${token}`);
  return fetch(path, { ...init, headers });
}
