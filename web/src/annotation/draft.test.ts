import { describe, expect, it } from 'vitest';
import { annotationInput, changed, draftOf, swapped, withContent, withText, type AnnotatedRecord, type CanonicalRecord } from './draft';

const chat: CanonicalRecord = { type: 'chat', messages: [{ role: 'user', content: 'q' }, { role: 'assistant', content: 'a' }] };
const pair: CanonicalRecord = {
  type: 'preference',
  prompt: [{ role: 'user', content: 'q' }],
  chosen: [{ role: 'assistant', content: 'good' }],
  rejected: [{ role: 'assistant', content: 'bad' }],
};
const annotated = (record: CanonicalRecord): AnnotatedRecord =>
  ({ index: 0, line: 1, assignee_id: 'usr_1', original: record, record, errors: [], annotation: null }) as AnnotatedRecord;

describe('annotation drafts', () => {
  it('rewrites one answer and sends the record only when it changed', () => {
    const r = annotated(chat);
    const d = draftOf(r);
    expect(d).toEqual({ labels: [], flagged: false, note: '', record: chat });
    expect(changed(d, r)).toBe(false);
    expect(annotationInput({ ...d, labels: ['ok'], note: ' fine ' }, r)).toEqual({ labels: ['ok'], flagged: false, note: 'fine' });
    const fixed = { ...d, record: withContent(chat, 'messages', 1, 'better') };
    expect(changed(fixed, r)).toBe(true);
    expect(annotationInput(fixed, r).record).toEqual({ type: 'chat', messages: [{ role: 'user', content: 'q' }, { role: 'assistant', content: 'better' }] });
    expect(chat.type === 'chat' && chat.messages[1]?.content).toBe('a');
  });

  it('swaps a preference pair and leaves other records alone', () => {
    const s = swapped(pair);
    expect(s.type === 'preference' && [s.chosen[0]?.content, s.rejected[0]?.content]).toEqual(['bad', 'good']);
    expect(swapped(chat)).toBe(chat);
    expect(withText({ type: 'text', text: 'x' }, 'y')).toEqual({ type: 'text', text: 'y' });
    expect(withContent(pair, 'rejected', 5, 'nothing there')).toBe(pair);
  });
});
