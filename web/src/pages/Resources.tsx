// Resources: the cluster's nodes and GPUs (CPU slots on a CPU-only machine), the queue in the
// order the scheduler would start it with why each job waits, the running jobs, and the
// quotas with this month's use against each limit — set, edited and removed by those who
// manage resources — and the prices per GPU-hour every cost is counted at.
import { useMutation, useQueryClient } from '@tanstack/react-query';
import { Badge, Button, Card, Col, Flex, Popconfirm, Progress, Row, Space, Statistic, Table, Typography } from 'antd';
import { useMemo, useState } from 'react';
import { useTranslation } from 'react-i18next';
import { Link } from 'react-router';
import { api, unwrap, type Schemas } from '../api/client';
import { useCluster, useProjects, useQuotas, useUsers } from '../api/queries';
import { PricesCard } from '../admin/PricesCard';
import { QuotaDrawer, type Subjects } from '../admin/QuotaDrawer';
import { quotaFields, usedPercent, type QuotaFields, type Scope } from '../admin/quota';
import { ErrorNotice } from '../app/ErrorNotice';
import { useCan, useMe } from '../app/useMe';
import { formatNumber, formatUnixTime } from '../i18n/format';

type Quota = Schemas['QuotaView'];

function JobName({ id, name }: { id?: string | null; name?: string | null }) {
  const { t } = useTranslation();
  return id ? <Link to={`/jobs/${id}`}>{name ?? id}</Link> : <Typography.Text type="secondary">{t('resources.hiddenJob')}</Typography.Text>;
}

function Use({ label, used, limit, digits = 0 }: { label: string; used: number; limit?: number | null; digits?: number }) {
  const { t } = useTranslation();
  const percent = usedPercent(used, limit);
  const n = (v: number) => formatNumber(v, { maximumFractionDigits: digits });
  return (
    <div style={{ minWidth: 160 }}>
      <Typography.Text>{limit == null ? t('resources.usedNoLimit', { used: n(used) }) : t('resources.usedOf', { used: n(used), limit: n(limit) })}</Typography.Text>
      {percent != null && <Progress percent={percent} size="small" status={percent >= 100 ? 'exception' : 'normal'} aria-label={label} />}
    </div>
  );
}

function Cluster() {
  const { t } = useTranslation();
  const cluster = useCluster();
  if (cluster.error) return <ErrorNotice error={cluster.error} onRetry={() => void cluster.refetch()} />;
  const c = cluster.data;
  return (
    <>
      <Card title={t('resources.cluster')} loading={cluster.isPending}>
        {c && (
          <Space direction="vertical" style={{ width: '100%' }}>
            <Row gutter={16}>
              <Col xs={12} md={6}><Statistic title={t('resources.devices')} value={formatNumber(c.gpus)} /></Col>
              <Col xs={12} md={6}><Statistic title={t('resources.free')} value={formatNumber(c.free_gpus)} /></Col>
              <Col xs={12} md={6}><Statistic title={t('resources.queued')} value={formatNumber(c.queue.length)} /></Col>
              <Col xs={12} md={6}><Statistic title={t('resources.policy')} value={c.policy} /></Col>
            </Row>
            <Table<Schemas['NodeView']>
              size="small"
              rowKey="id"
              pagination={false}
              dataSource={c.nodes}
              columns={[
                { title: t('resources.node'), dataIndex: 'id' },
                { title: t('resources.deviceType'), dataIndex: 'gpu_type', render: (g: string) => (g === 'cpu' ? t('resources.cpuSlots') : g) },
                { title: t('resources.inUse'), key: 'use', render: (_, n) => <Use label={n.id} used={n.gpus - n.free_gpus} limit={n.gpus} /> },
                { title: t('resources.memory'), dataIndex: 'gpu_memory_gib', render: (g: number) => (g > 0 ? `${formatNumber(g)} GiB` : '–') },
              ]}
            />
          </Space>
        )}
      </Card>
      <Card title={t('resources.queue')} loading={cluster.isPending}>
        <Table<Schemas['QueueEntry']>
          size="small"
          rowKey={(q) => `${q.position}`}
          pagination={false}
          dataSource={c?.queue ?? []}
          locale={{ emptyText: t('resources.queueEmpty') }}
          columns={[
            { title: '#', dataIndex: 'position', width: 48, render: (p: number) => p + 1 },
            { title: t('resources.job'), key: 'job', render: (_, q) => <JobName id={q.job_id} name={q.name} /> },
            { title: t('resources.priority'), dataIndex: 'priority' },
            { title: t('resources.devicesNeeded'), key: 'gpus', render: (_, q) => `${q.gpus} × ${q.gpu_type ?? t('resources.anyDevice')}` },
            { title: t('resources.waitingSince'), dataIndex: 'queued_at', render: (s: number) => formatUnixTime(s) },
            { title: t('resources.why'), key: 'why', render: (_, q) => q.wait?.message ?? '–' },
          ]}
        />
      </Card>
      <Card title={t('resources.running')} loading={cluster.isPending}>
        <Table<Schemas['RunningEntry']>
          size="small"
          rowKey={(r) => `${r.node}-${r.started_at}-${r.job_id ?? ''}`}
          pagination={false}
          dataSource={c?.running ?? []}
          locale={{ emptyText: t('resources.runningEmpty') }}
          columns={[
            { title: t('resources.job'), key: 'job', render: (_, r) => <JobName id={r.job_id} name={r.name} /> },
            { title: t('resources.node'), dataIndex: 'node' },
            { title: t('resources.devicesUsed'), dataIndex: 'gpus' },
            { title: t('resources.priority'), dataIndex: 'priority' },
            { title: t('resources.since'), dataIndex: 'started_at', render: (s: number) => formatUnixTime(s) },
            { title: t('resources.stopping'), dataIndex: 'stopping', render: (s?: string | null) => s ?? '–' },
          ]}
        />
      </Card>
    </>
  );
}

function Quotas() {
  const { t } = useTranslation();
  const queryClient = useQueryClient();
  const me = useMe();
  const canManage = useCan('manage_resources');
  const canSeeUsers = useCan('manage_users');
  const [drawer, setDrawer] = useState<{ editing: QuotaFields | null } | null>(null);
  const quotas = useQuotas(10_000);
  const projects = useProjects();
  const users = useUsers(canSeeUsers);
  const remove = useMutation({
    mutationFn: async (q: Quota) => unwrap(await api.DELETE('/api/v1/quotas/{scope}/{subject_id}', { params: { path: { scope: q.scope as Scope, subject_id: q.subject_id } } })),
    onSettled: () => queryClient.invalidateQueries({ queryKey: ['quotas'] }),
  });
  const subjects: Subjects = useMemo(
    () => ({
      organization: me.data ? [{ value: me.data.organization.id, label: me.data.organization.name }] : [],
      project: (projects.data?.data ?? []).map((p) => ({ value: p.id, label: p.name })),
      user: (users.data?.data ?? []).map((u) => ({ value: u.id, label: `${u.name} <${u.email}>` })),
    }),
    [me.data, projects.data, users.data],
  );
  const subjectName = (q: Quota) => subjects[q.scope as keyof Subjects]?.find((s) => s.value === q.subject_id)?.label ?? q.subject_id;
  return (
    <Card
      title={t('resources.quotas')}
      extra={canManage && <Button onClick={() => setDrawer({ editing: null })}>{t('quotas.set')}</Button>}
    >
      {quotas.error ? (
        <ErrorNotice error={quotas.error} onRetry={() => void quotas.refetch()} />
      ) : (
        <Table<Quota>
          size="small"
          rowKey={(q) => `${q.scope}/${q.subject_id}`}
          loading={quotas.isPending}
          pagination={false}
          dataSource={quotas.data?.data ?? []}
          locale={{ emptyText: t('resources.quotasEmpty') }}
          columns={[
            {
              title: t('quotas.subject'),
              key: 'subject',
              render: (_, q) => (
                <Space direction="vertical" size={0} style={{ minWidth: 140 }}>
                  <Typography.Text>{subjectName(q)}</Typography.Text>
                  <Typography.Text type="secondary">{t(`quotas.scopes.${q.scope as 'organization' | 'project' | 'user'}`)}</Typography.Text>
                </Space>
              ),
            },
            { title: t('quotas.gpuHours'), key: 'hours', render: (_, q) => <Use label={t('quotas.gpuHours')} used={q.usage.gpu_hours} limit={q.limits.gpu_hours_per_month} digits={2} /> },
            { title: t('quotas.budget'), key: 'budget', render: (_, q) => <Use label={t('quotas.budget')} used={q.usage.cost} limit={q.limits.budget_per_month} digits={2} /> },
            { title: t('quotas.jobs'), key: 'jobs', render: (_, q) => <Use label={t('quotas.jobs')} used={q.usage.running_jobs + q.usage.running_evaluations} limit={q.limits.max_concurrent_jobs} /> },
            { title: t('quotas.gpus'), key: 'gpus', render: (_, q) => <Use label={t('quotas.gpus')} used={q.usage.gpus_in_use} limit={q.limits.max_gpus} /> },
            {
              title: t('quotas.state'),
              key: 'state',
              render: (_, q) =>
                q.exhausted ? (
                  <Badge status="error" text={t('quotas.exhausted')} />
                ) : q.alerted ? (
                  <Badge status="warning" text={t('quotas.alerted')} />
                ) : (
                  <Badge status="success" text={t('quotas.ok')} />
                ),
            },
            ...(canManage
              ? [
                  {
                    title: '',
                    key: 'actions',
                    render: (_: unknown, q: Quota) => (
                      <Flex gap={8}>
                        <Button size="small" onClick={() => setDrawer({ editing: quotaFields(q) })}>{t('quotas.editShort')}</Button>
                        <Popconfirm title={t('quotas.removeConfirm', { name: subjectName(q) })} onConfirm={() => remove.mutate(q)} okButtonProps={{ danger: true }} okText={t('quotas.remove')}>
                          <Button size="small" danger>{t('quotas.remove')}</Button>
                        </Popconfirm>
                      </Flex>
                    ),
                  },
                ]
              : []),
          ]}
        />
      )}
      {remove.error && <ErrorNotice error={remove.error} />}
      {quotas.data?.data[0] && (
        <Typography.Paragraph type="secondary" style={{ marginTop: 12, marginBottom: 0 }}>
          {t('resources.quotaPeriod', { period: quotas.data.data[0].period })}
        </Typography.Paragraph>
      )}
      <QuotaDrawer open={drawer !== null} editing={drawer?.editing ?? null} subjects={subjects} onClose={() => setDrawer(null)} />
    </Card>
  );
}

export function Resources() {
  const { t } = useTranslation();
  return (
    <Space direction="vertical" size="large" style={{ width: '100%' }}>
      <Typography.Title level={1} style={{ fontSize: 24, margin: 0 }}>{t('resources.title')}</Typography.Title>
      <Cluster />
      <Quotas />
      <PricesCard />
    </Space>
  );
}
