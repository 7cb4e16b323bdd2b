// The rater's form state for one item and the rating it sends: rubric scores per shown answer
// and criterion (every one required), error tags, a pairwise preference, a comment and a flag.
import type { Schemas } from '../api/client';

type Criterion = Schemas['Criterion'];
export type RatingInput = Schemas['RatingInput'];

export type Draft = {
  /** label → criterion → score (absent: not scored yet). */
  scores: Record<string, Record<string, number>>;
  tags: Record<string, string[]>;
  preference: string | null;
  comment: string;
  flag: string | null;
};

export const emptyDraft = (): Draft => ({ scores: {}, tags: {}, preference: null, comment: '', flag: null });

/** A rating given before (the rater came back to the item) as the form's state. */
export function draftOf(previous: RatingInput | null | undefined): Draft {
  if (!previous || previous.skip) return emptyDraft();
  const scores: Draft['scores'] = {};
  const tags: Draft['tags'] = {};
  for (const [label, a] of Object.entries(previous.answers ?? {})) {
    scores[label] = { ...(a.scores ?? {}) };
    tags[label] = [...(a.tags ?? [])];
  }
  return { scores, tags, preference: previous.preference ?? null, comment: previous.comment ?? '', flag: previous.flag ?? null };
}

/** What is still missing before the rating can be sent: `label: criterion` pairs not scored,
 * or `preference` in a pairwise task. */
export function missing(draft: Draft, labels: string[], criteria: Criterion[], pairwise: boolean): string[] {
  if (pairwise) return draft.preference ? [] : ['preference'];
  return labels.flatMap((label) => criteria.filter((c) => draft.scores[label]?.[c.name] === undefined).map((c) => `${label}: ${c.name}`));
}

export function ratingOf(item: number, draft: Draft, labels: string[], pairwise: boolean): RatingInput {
  const answers: RatingInput['answers'] = {};
  for (const label of labels) {
    answers[label] = { scores: pairwise ? {} : { ...(draft.scores[label] ?? {}) }, tags: draft.tags[label] ?? [] };
  }
  return {
    item,
    answers,
    preference: pairwise ? draft.preference : null,
    comment: draft.comment.trim() ? draft.comment.trim() : null,
    flag: draft.flag?.trim() ? draft.flag.trim() : null,
  };
}

/** The keyboard shortcuts of the rating screen, outside text fields: in a pairwise task `1`,
 * `2`… pick that answer and `0` or `t` a tie; everywhere `Enter` sends and `s` skips. */
export function shortcut(key: string, labels: string[], pairwise: boolean): { kind: 'prefer'; label: string } | { kind: 'submit' } | { kind: 'skip' } | null {
  if (key === 'Enter') return { kind: 'submit' };
  if (key === 's' || key === 'S') return { kind: 'skip' };
  if (!pairwise) return null;
  if (key === '0' || key === 't' || key === 'T') return { kind: 'prefer', label: 'tie' };
  const n = Number(key);
  if (Number.isInteger(n) && n >= 1 && n <= labels.length) return { kind: 'prefer', label: labels[n - 1] as string };
  return null;
}
