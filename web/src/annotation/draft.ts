// What an annotator is changing about one record before it is saved: its labels, flag, note and
// the record as corrected — an assistant answer rewritten, a preference pair's chosen and
// rejected answers swapped or fixed, a text rewritten.
import type { Schemas } from '../api/client';

export type CanonicalRecord = Schemas['CanonicalRecord'];
export type AnnotatedRecord = Schemas['AnnotatedRecord'];
/** Which list of messages a message is in. */
export type Part = 'messages' | 'prompt' | 'chosen' | 'rejected';

export type Draft = { labels: string[]; flagged: boolean; note: string; record: CanonicalRecord | null };

export function draftOf(r: AnnotatedRecord): Draft {
  const a = r.annotation;
  return { labels: a?.labels ?? [], flagged: a?.flagged ?? false, note: a?.note ?? '', record: r.record ?? null };
}

/** The record with one message's content replaced. */
export function withContent(record: CanonicalRecord, part: Part, index: number, content: string): CanonicalRecord {
  const r = record as Record<string, unknown>;
  const list = r[part];
  if (!Array.isArray(list) || !list[index]) return record;
  return { ...record, [part]: list.map((m: Schemas['DatasetMessage'], i: number) => (i === index ? { ...m, content } : m)) } as CanonicalRecord;
}

/** A preference pair with its chosen and rejected answers the other way round. */
export function swapped(record: CanonicalRecord): CanonicalRecord {
  return record.type === 'preference' ? { ...record, chosen: record.rejected, rejected: record.chosen } : record;
}

export function withText(record: CanonicalRecord, text: string): CanonicalRecord {
  return record.type === 'text' ? { ...record, text } : record;
}

/** Whether the draft differs from what is saved. */
export function changed(d: Draft, r: AnnotatedRecord): boolean {
  return JSON.stringify(d) !== JSON.stringify(draftOf(r));
}

/** The request that saves the draft; the record goes only when it differs from the original. */
export function annotationInput(d: Draft, r: AnnotatedRecord): Schemas['AnnotationInput'] {
  const edited = d.record && JSON.stringify(d.record) !== JSON.stringify(r.original);
  return { labels: d.labels, flagged: d.flagged, note: d.note.trim(), ...(edited ? { record: d.record } : {}) };
}
