// A list page: its title, an action for those allowed, and a table of the query's items with an
// empty state that says what to do, a loading state and an error with a retry; a list the server
// pages (`usePagedList`) shows how many are listed and a button for the next page.
import type { UseQueryResult } from '@tanstack/react-query';
import { Button, Flex, Table, Typography } from 'antd';
import type { ColumnsType, TableRowSelection } from 'antd/es/table/interface';
import type { ReactNode } from 'react';
import { useTranslation } from 'react-i18next';
import { formatNumber } from '../i18n/format';
import { ErrorNotice } from './ErrorNotice';
import { itemsOf, type PagedList } from './usePagedList';

function paged<T>(q: UseQueryResult<{ data: T[] }> | PagedList<T>): q is PagedList<T> {
  return 'fetchNextPage' in q;
}

export function ListPage<T extends { id: string }>({
  title,
  action,
  query,
  columns,
  emptyText,
  above,
  rowSelection,
  children,
}: {
  title: string;
  action?: ReactNode;
  query: UseQueryResult<{ data: T[] }> | PagedList<T>;
  columns: ColumnsType<T>;
  emptyText: string;
  /** Shown between the title and the table (a notice about what was just done). */
  above?: ReactNode;
  /** Rows the user may tick (for an action on several). */
  rowSelection?: TableRowSelection<T>;
  children?: ReactNode;
}) {
  const { t } = useTranslation();
  const items = paged(query) ? itemsOf(query.data) : (query.data?.data ?? []);
  return (
    <>
      <Flex justify="space-between" align="center">
        <Typography.Title level={1} style={{ fontSize: 24 }}>{title}</Typography.Title>
        {action}
      </Flex>
      {above}
      {query.error ? (
        <ErrorNotice error={query.error} onRetry={() => void query.refetch()} />
      ) : (
        <Table<T> rowKey="id" rowSelection={rowSelection} loading={query.isPending} dataSource={items} locale={{ emptyText }} pagination={false} columns={columns} />
      )}
      {paged(query) && query.hasNextPage && (
        <Flex justify="center" align="center" gap={12} style={{ marginTop: 16 }}>
          <Typography.Text type="secondary">{t('list.shown', { count: items.length, n: formatNumber(items.length) })}</Typography.Text>
          <Button onClick={() => void query.fetchNextPage()} loading={query.isFetchingNextPage}>{t('list.more')}</Button>
        </Flex>
      )}
      {children}
    </>
  );
}
