// A job's Server-Sent Events read with fetch (EventSource cannot send the Authorization
// header): each event is handed over as it arrives; a dropped connection is reopened from the
// last event's id, so nothing is missed or repeated, until the stream ends with the job.
import { accessToken } from '../api/session';

export type JobEvent = { seq: number; kind: string; step?: number | null; time_ms: number; data: Record<string, unknown> };

/** The server refused the stream (a 4xx or an `error` event): reconnecting would not help. */
export class StreamRefused extends Error {}

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

export async function followJobEvents(jobId: string, onEvent: (e: JobEvent) => void, signal: AbortSignal): Promise<void> {
  let after = 0;
  for (let attempt = 0; !signal.aborted; attempt++) {
    try {
      const token = await accessToken();
      const res = await fetch(`/api/v1/jobs/${encodeURIComponent(jobId)}/events?after=${after}`, {
        headers: { Accept: 'text/event-stream', ...(token ? { Authorization: `Bearer ${token}` } : {}) },
        signal,
      });
      if (res.status >= 400 && res.status < 500) throw new StreamRefused(`the job's events answered HTTP ${res.status}`);
      if (!res.ok || !res.body) throw new Error(`the job's events answered HTTP ${res.status}`);
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return; // the job reached a final state
        const parsed = parseSse(buffer + value);
        buffer = parsed.rest;
        for (const e of parsed.events) {
          if (e.event === 'error') {
            const body = JSON.parse(e.data) as { error?: { message?: string } };
            throw new StreamRefused(body.error?.message ?? e.data);
          }
          const event = JSON.parse(e.data) as JobEvent;
          after = Math.max(after, event.seq);
          onEvent(event);
          attempt = 0;
        }
      }
    } catch (e) {
      if (signal.aborted) return;
      if (e instanceof StreamRefused) throw e;
      await new Promise((r) => setTimeout(r, Math.min(1000 * 2 ** attempt, 10_000)));
    }
  }
}
