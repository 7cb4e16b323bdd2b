// A list the server pages by cursor (`after` = the last id seen, `has_more`): the first page, and
// further pages on demand ("Show more" on a list page). Asked again on an interval, every page
// shown is asked again, so nothing on screen goes stale.
import { useInfiniteQuery, type InfiniteData, type UseInfiniteQueryResult } from '@tanstack/react-query';

export type ListPageData<T> = { data: T[]; has_more: boolean };
export type PagedList<T> = UseInfiniteQueryResult<InfiniteData<ListPageData<T>, string | undefined>>;

/** Items per page asked of the server. */
export const PAGE_SIZE = 100;

export function usePagedList<T extends { id: string }>(
  queryKey: unknown[],
  fetchPage: (after: string | undefined) => Promise<ListPageData<T>>,
  options: { refetchInterval?: number; enabled?: boolean } = {},
): PagedList<T> {
  return useInfiniteQuery({
    queryKey,
    initialPageParam: undefined as string | undefined,
    queryFn: ({ pageParam }) => fetchPage(pageParam),
    getNextPageParam: (last) => (last.has_more ? last.data[last.data.length - 1]?.id : undefined),
    ...options,
  });
}

/** Every item of the pages fetched so far, in order. */
export function itemsOf<T>(pages: InfiniteData<ListPageData<T>, string | undefined> | undefined): T[] {
  return pages?.pages.flatMap((p) => p.data) ?? [];
}
