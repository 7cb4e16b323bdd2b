import { describe, expect, it } from 'vitest';
import { itemsOf } from './usePagedList';

describe('paged lists', () => {
  it('shows the items of every page fetched, in order', () => {
    const pages = { pages: [{ data: [{ id: 'a' }, { id: 'b' }], has_more: true }, { data: [{ id: 'c' }], has_more: false }], pageParams: [undefined, 'b'] };
    expect(itemsOf(pages).map((x) => x.id)).toEqual(['a', 'b', 'c']);
    expect(itemsOf(undefined)).toEqual([]);
  });
});
