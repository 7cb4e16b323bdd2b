import { describe, expect, it } from 'vitest';
import { draftOf, emptyDraft, missing, ratingOf, shortcut } from './rating';

const criteria = [{ name: 'relevance', min: 0, max: 5 }, { name: 'fluency', min: 0, max: 5 }];

describe('rating an item', () => {
  it('asks for every criterion of every answer, then sends scores and tags by shown label', () => {
    const d = emptyDraft();
    d.scores = { A: { relevance: 4, fluency: 0 }, B: { relevance: 2 } };
    d.tags = { B: ['hallucination'] };
    d.comment = '  B invents a date ';
    expect(missing(d, ['A', 'B'], criteria, false)).toEqual(['B: fluency']);
    d.scores.B = { relevance: 2, fluency: 3 };
    expect(missing(d, ['A', 'B'], criteria, false)).toEqual([]);
    expect(ratingOf(7, d, ['A', 'B'], false)).toEqual({
      item: 7,
      answers: { A: { scores: { relevance: 4, fluency: 0 }, tags: [] }, B: { scores: { relevance: 2, fluency: 3 }, tags: ['hallucination'] } },
      preference: null,
      comment: 'B invents a date',
      flag: null,
    });
  });

  it('needs a preference in a pairwise task, and takes it from the keyboard', () => {
    const d = emptyDraft();
    expect(missing(d, ['A', 'B'], [], true)).toEqual(['preference']);
    expect(shortcut('2', ['A', 'B'], true)).toEqual({ kind: 'prefer', label: 'B' });
    expect(shortcut('t', ['A', 'B'], true)).toEqual({ kind: 'prefer', label: 'tie' });
    expect(shortcut('3', ['A', 'B'], true)).toBeNull();
    expect(shortcut('1', ['A', 'B'], false)).toBeNull();
    expect(shortcut('Enter', ['A', 'B'], false)).toEqual({ kind: 'submit' });
    expect(shortcut('s', ['A', 'B'], false)).toEqual({ kind: 'skip' });
  });

  it('opens a rating given before as the form, and a skip as an empty one', () => {
    const previous = { item: 1, answers: { A: { scores: { relevance: 5 }, tags: ['formatting'] } }, preference: null, comment: 'ok', flag: null };
    expect(draftOf(previous)).toEqual({ scores: { A: { relevance: 5 } }, tags: { A: ['formatting'] }, preference: null, comment: 'ok', flag: null });
    expect(draftOf({ item: 1, skip: true })).toEqual(emptyDraft());
  });
});
