// The audit log (needs `manage_users`): newest first, filtered by action or action family,
// who, what it touched, outcome and a date range, a page at a time; each event's details open
// in its row.
import { useInfiniteQuery } from '@tanstack/react-query';
import { Badge, Button, Card, Form, Input, Select, Space, Table, Typography } from 'antd';
import { useState } from 'react';
import { useTranslation } from 'react-i18next';
import { api, unwrap, type Schemas } from '../api/client';
import { useUsers } from '../api/queries';
import { ErrorNotice } from '../app/ErrorNotice';
import { formatDateTime } from '../i18n/format';
import { auditQuery, type AuditFilters } from '../admin/audit';

type Event = Schemas['AuditEventView'];
const PAGE = 50;

export function Audit() {
  const { t } = useTranslation();
  const [form] = Form.useForm<AuditFilters>();
  const [filters, setFilters] = useState<AuditFilters>({});
  const users = useUsers();
  const events = useInfiniteQuery({
    queryKey: ['audit-events', filters],
    initialPageParam: undefined as number | undefined,
    queryFn: async ({ pageParam }) => unwrap(await api.GET('/api/v1/audit-events', { params: { query: { ...auditQuery(filters), limit: PAGE, before: pageParam } } })),
    getNextPageParam: (last) => (last.has_more ? last.data[last.data.length - 1]?.seq : undefined),
  });
  const names = new Map((users.data?.data ?? []).map((u) => [u.id, u.name]));
  const rows = events.data?.pages.flatMap((p) => p.data) ?? [];
  const outcomeBadge = { success: 'success', failure: 'error', denied: 'warning' } as const;
  return (
    <Space direction="vertical" size="large" style={{ width: '100%' }}>
      <Typography.Title level={1} style={{ fontSize: 24, margin: 0 }}>{t('audit.title')}</Typography.Title>
      <Card>
        <Form<AuditFilters> form={form} layout="inline" onFinish={(f) => setFilters(f)} style={{ rowGap: 8 }}>
          <Form.Item name="action" label={t('audit.action')} tooltip={t('audit.actionHelp')}>
            <Input allowClear placeholder="auth" style={{ width: 180 }} />
          </Form.Item>
          <Form.Item name="actor_id" label={t('audit.actor')}>
            <Select allowClear showSearch={{ optionFilterProp: 'label' }} style={{ width: 200 }} options={(users.data?.data ?? []).map((u) => ({ value: u.id, label: u.name }))} />
          </Form.Item>
          <Form.Item name="target_id" label={t('audit.target')}>
            <Input allowClear style={{ width: 200 }} />
          </Form.Item>
          <Form.Item name="outcome" label={t('audit.outcome')}>
            <Select allowClear style={{ width: 140 }} options={(['success', 'failure', 'denied'] as const).map((o) => ({ value: o, label: t(`audit.outcomes.${o}`) }))} />
          </Form.Item>
          <Form.Item name="since" label={t('audit.since')}>
            <Input type="date" />
          </Form.Item>
          <Form.Item name="until" label={t('audit.until')}>
            <Input type="date" />
          </Form.Item>
          <Form.Item>
            <Space>
              <Button type="primary" htmlType="submit">{t('audit.filter')}</Button>
              <Button onClick={() => { form.resetFields(); setFilters({}); }}>{t('audit.reset')}</Button>
            </Space>
          </Form.Item>
        </Form>
      </Card>
      {events.error ? (
        <ErrorNotice error={events.error} onRetry={() => void events.refetch()} />
      ) : (
        <Table<Event>
          size="small"
          rowKey="id"
          loading={events.isPending}
          dataSource={rows}
          pagination={false}
          locale={{ emptyText: t('audit.empty') }}
          expandable={{
            rowExpandable: (e) => Object.keys((e.details as object | null) ?? {}).length > 0,
            expandedRowRender: (e) => <pre style={{ margin: 0, whiteSpace: 'pre-wrap' }}>{JSON.stringify(e.details, null, 2)}</pre>,
          }}
          columns={[
            { title: t('audit.when'), dataIndex: 'occurred_at_ms', width: 190, render: (ms: number) => formatDateTime(ms) },
            {
              title: t('audit.actor'),
              key: 'actor',
              render: (_, e) => (e.actor_id ? names.get(e.actor_id) ?? e.actor_id : t(`audit.actorKinds.${e.actor_kind as 'system'}`, { defaultValue: e.actor_kind })),
            },
            { title: t('audit.action'), dataIndex: 'action', render: (a: string) => <Typography.Text code>{a}</Typography.Text> },
            { title: t('audit.target'), key: 'target', render: (_, e) => (e.target_id ? `${e.target_kind ?? ''} ${e.target_id}`.trim() : '–') },
            {
              title: t('audit.outcome'),
              dataIndex: 'outcome',
              render: (o: 'success' | 'failure' | 'denied') => <Badge status={outcomeBadge[o] ?? 'default'} text={t(`audit.outcomes.${o}`, { defaultValue: o })} />,
            },
            { title: t('audit.ip'), dataIndex: 'ip', render: (ip?: string | null) => ip ?? '–' },
          ]}
        />
      )}
      {events.hasNextPage && (
        <Button onClick={() => void events.fetchNextPage()} loading={events.isFetchingNextPage}>{t('audit.more')}</Button>
      )}
    </Space>
  );
}
