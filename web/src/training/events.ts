// A job's Server-Sent Events (read through api/sse.ts): each event is handed over as it
// arrives; a dropped connection is reopened from the last event's id, so nothing is missed or
// repeated, until the stream ends with the job.
import { fetchStream, readSse } from '../api/sse';

export type JobEvent = { seq: number; kind: string; step?: number | null; time_ms: number; data: Record<string, unknown> };

/** The server refused the stream (a 4xx or an `error` event): reconnecting would not help. */
export class StreamRefused extends Error {}

export async function followJobEvents(jobId: string, onEvent: (e: JobEvent) => void, signal: AbortSignal): Promise<void> {
  let after = 0;
  for (let attempt = 0; !signal.aborted; attempt++) {
    try {
      const res = await fetchStream(`/api/v1/jobs/${encodeURIComponent(jobId)}/events?after=${after}`, { signal });
      if (res.status >= 400 && res.status < 500) throw new StreamRefused(`the job's events answered HTTP ${res.status}`);
      if (!res.ok || !res.body) throw new Error(`the job's events answered HTTP ${res.status}`);
      for await (const e of readSse(res.body)) {
        if (e.event === 'error') {
          const body = JSON.parse(e.data) as { error?: { message?: string } };
          throw new StreamRefused(body.error?.message ?? e.data);
        }
        const event = JSON.parse(e.data) as JobEvent;
        after = Math.max(after, event.seq);
        onEvent(event);
        attempt = 0;
      }
      return; // the stream ends with the job
    } catch (e) {
      if (signal.aborted) return;
      if (e instanceof StreamRefused) throw e;
      await new Promise((r) => setTimeout(r, Math.min(1000 * 2 ** attempt, 10_000)));
    }
  }
}
