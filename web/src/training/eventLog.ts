// The monitor's event log: one line per event with the figures that matter, and the search
// and kind filter applied to the events kept in the page.
import { formatBytes, formatNumber } from '../i18n/format';
import type { JobEvent } from './events';

const num = (v: unknown, digits = 4) => formatNumber(Number(v), { maximumFractionDigits: digits });

/** One line per event: the figures that matter, not the raw record. */
export function describeEvent(e: JobEvent): string {
  const d = e.data;
  switch (e.kind) {
    case 'progress':
      return `loss ${num(d.loss)} · lr ${num(d.learning_rate, 8)}${d.grad_norm == null ? '' : ` · grad_norm ${num(d.grad_norm)}`} · ${num(d.tokens_per_second, 1)} tokens/s`;
    case 'eval':
      return `eval_loss ${num(d.eval_loss)}`;
    case 'state':
      return String(d.state ?? '');
    case 'log':
      return String(d.message ?? d.line ?? '');
    case 'system':
      return `CPU ${num(d.cpu_percent, 1)}% · RSS ${formatBytes(Number(d.rss_bytes ?? 0))}`;
    case 'checkpoint':
      return String(d.path ?? '');
    case 'artifact':
      return `${String(d.kind ?? '')} ${String(d.path ?? '')}`;
    case 'started':
      return `${String(d.device ?? '')} ${String(d.dtype ?? '')} ${String(d.attention ?? '')}`;
    case 'finished': {
      const summary = (d.summary ?? {}) as Record<string, unknown>;
      return `${String(d.status ?? '')} · final loss ${num(summary.final_loss)} · ${num(summary.seconds, 1)} s`;
    }
    default:
      return JSON.stringify(d).slice(0, 200);
  }
}

export type LogFilter = { text: string; kinds: string[] };

/** The events that match: any of `kinds` (all when none), and every word of `text` found,
 * ignoring case, in the event's line, its kind or its step. Newest first, as kept. */
export function filterEvents(events: JobEvent[], filter: LogFilter): JobEvent[] {
  const words = filter.text.toLowerCase().split(/\s+/).filter(Boolean);
  return events.filter((e) => {
    if (filter.kinds.length && !filter.kinds.includes(e.kind)) return false;
    if (!words.length) return true;
    const line = `${e.kind} ${e.step ?? ''} ${describeEvent(e)}`.toLowerCase();
    return words.every((w) => line.includes(w));
  });
}
