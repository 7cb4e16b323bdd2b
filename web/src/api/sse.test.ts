import { describe, expect, it } from 'vitest';
import { parseSse } from './sse';

describe('parseSse', () => {
  it('splits complete events and keeps the unfinished rest for the next chunk', () => {
    const first = parseSse('id: 1\nevent: progress\ndata: {"seq":1}\n\nid: 2\nevent: pro');
    expect(first.events).toEqual([{ id: '1', event: 'progress', data: '{"seq":1}' }]);
    const second = parseSse(first.rest + 'gress\ndata: {"seq":2}\n\n');
    expect(second.events).toEqual([{ id: '2', event: 'progress', data: '{"seq":2}' }]);
    expect(second.rest).toBe('');
  });

  it('ignores comments (keep-alives), joins multi-line data and reads CRLF', () => {
    const { events } = parseSse(': keep-alive\r\n\r\ndata: a\r\ndata: b\r\n\r\n');
    expect(events).toEqual([{ id: undefined, event: undefined, data: 'a\nb' }]);
  });
});
