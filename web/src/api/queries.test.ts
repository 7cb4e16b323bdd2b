import { describe, expect, it } from 'vitest';
import { everyPage } from './queries';

describe('pickers read every page', () => {
  it('follows the cursor until the server has no more', async () => {
    const items = Array.from({ length: 250 }, (_, i) => ({ id: `x${String(i).padStart(3, '0')}` }));
    const asked: { limit: number; after?: string }[] = [];
    const all = await everyPage(async (query) => {
      asked.push(query);
      const start = query.after ? items.findIndex((x) => x.id === query.after) + 1 : 0;
      const data = items.slice(start, start + query.limit);
      return { data, has_more: start + query.limit < items.length };
    });
    expect(all.data.map((x) => x.id)).toEqual(items.map((x) => x.id));
    expect(asked).toEqual([{ limit: 100 }, { limit: 100, after: 'x099' }, { limit: 100, after: 'x199' }]);
  });

  it('stops on an empty page even if the server says there is more', async () => {
    let calls = 0;
    const all = await everyPage(async () => {
      calls += 1;
      return { data: [] as { id: string }[], has_more: true };
    });
    expect(all).toEqual({ data: [], has_more: false });
    expect(calls).toBe(1);
  });
});
