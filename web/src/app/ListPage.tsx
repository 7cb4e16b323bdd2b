// A list page: its title, an action for those allowed, and a table of the query's items with an
// empty state that says what to do, a loading state and an error with a retry.
import type { UseQueryResult } from '@tanstack/react-query';
import { Flex, Table, Typography } from 'antd';
import type { ColumnsType, TableRowSelection } from 'antd/es/table/interface';
import type { ReactNode } from 'react';
import { ErrorNotice } from './ErrorNotice';

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
  query: UseQueryResult<{ data: T[] }>;
  columns: ColumnsType<T>;
  emptyText: string;
  /** Shown between the title and the table (a notice about what was just done). */
  above?: ReactNode;
  /** Rows the user may tick (for an action on several). */
  rowSelection?: TableRowSelection<T>;
  children?: ReactNode;
}) {
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
        <Table<T> rowKey="id" rowSelection={rowSelection} loading={query.isPending} dataSource={query.data?.data ?? []} locale={{ emptyText }} pagination={false} columns={columns} />
      )}
      {children}
    </>
  );
}
