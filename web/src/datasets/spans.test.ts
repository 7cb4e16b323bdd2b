import { describe, expect, it } from 'vitest';
import { pieces } from './spans';

const utf8 = (s: string) => new TextEncoder().encode(s).length;

describe('pieces', () => {
  it('cuts at byte offsets, so text beyond ASCII stays whole', () => {
    const head = '<|im_start|>user\n';
    const question = '你好';
    const middle = '<|im_end|>\n<|im_start|>assistant\n';
    const answer = '您好！<|im_end|>';
    const text = head + question + middle + answer + '\n';
    const u0 = utf8(head);
    const a0 = utf8(head + question + middle);
    const spans = [
      { message_index: 0, role: 'user' as const, start: u0, content_end: u0 + utf8(question), end: u0 + utf8(question), trained: false },
      { message_index: 1, role: 'assistant' as const, start: a0, content_end: a0 + utf8('您好！'), end: a0 + utf8(answer), trained: true },
    ];
    expect(pieces({ text, spans })).toEqual([
      { text: head, trained: false },
      { text: question, role: 'user', trained: false },
      { text: middle, trained: false },
      { text: answer, role: 'assistant', trained: true },
      { text: '\n', trained: false },
    ]);
  });
});
