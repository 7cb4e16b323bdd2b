// The dashboard: who I am, my projects, running and queued jobs, this month's spend against
// the budget with compute and inference use and the devices in use (for those who may see
// metrics), recent activity (for those who may read the audit log).
import { useQuery } from '@tanstack/react-query';
import { Card, Col, List, Progress, Row, Skeleton, Statistic, Tag, Typography } from 'antd';
import { useTranslation } from 'react-i18next';
import { Link } from 'react-router';
import { api, unwrap } from '../api/client';
import { useCluster, useProjects, useQuotas } from '../api/queries';
import { ErrorNotice } from '../app/ErrorNotice';
import { useMe } from '../app/useMe';
import { usedPercent } from '../admin/quota';
import { formatDateTime, formatNumber } from '../i18n/format';

function useJobs(state: 'running' | 'queued', enabled: boolean) {
  return useQuery({
    queryKey: ['jobs', { state }],
    enabled,
    refetchInterval: 5_000,
    queryFn: async () => unwrap(await api.GET('/api/v1/jobs', { params: { query: { state, limit: 100 } } })),
  });
}

/** How many a first page holds: "100+" when the server has more. */
function countOf(page: { data: unknown[]; has_more: boolean } | undefined): string {
  if (!page) return formatNumber(0);
  return page.has_more ? `${formatNumber(page.data.length)}+` : formatNumber(page.data.length);
}

/** Since the start of this calendar month in UTC, as quotas count it. */
function monthStartMs(now = new Date()) {
  return Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1);
}

function ThisMonth() {
  const { t } = useTranslation();
  const usage = useQuery({
    queryKey: ['usage', 'month'],
    refetchInterval: 30_000,
    queryFn: async () => unwrap(await api.GET('/api/v1/usage', { params: { query: { bucket: 'day', from: monthStartMs() } } })),
  });
  const quotas = useQuotas();
  const cluster = useCluster();
  const error = usage.error ?? quotas.error ?? cluster.error;
  if (error) return <ErrorNotice error={error} />;
  const compute = usage.data?.compute;
  const budget = quotas.data?.data.find((q) => q.scope === 'organization')?.limits.budget_per_month;
  const spent = compute?.cost ?? 0;
  const percent = budget != null ? usedPercent(spent, budget) : null;
  const devices = cluster.data;
  const money = (v: number) => formatNumber(v, { minimumFractionDigits: 2, maximumFractionDigits: 2 });
  return (
    <Row gutter={[16, 16]}>
      <Col xs={12} md={6}>
        <Statistic title={t('dashboard.spend')} value={money(spent)} suffix={budget != null ? `/ ${money(budget)}` : undefined} loading={usage.isPending || quotas.isPending} />
        {percent != null && <Progress percent={percent} size="small" status={percent >= 100 ? 'exception' : 'normal'} aria-label={t('dashboard.budgetUsed')} />}
        {budget == null && !quotas.isPending && <Typography.Text type="secondary">{t('dashboard.noBudget')}</Typography.Text>}
      </Col>
      <Col xs={12} md={6}><Statistic title={t('dashboard.gpuHours')} value={formatNumber(compute?.gpu_hours ?? 0, { maximumFractionDigits: 2 })} loading={usage.isPending} /></Col>
      <Col xs={12} md={6}>
        <Statistic title={t('dashboard.inference')} value={formatNumber(usage.data?.requests ?? 0)} suffix={t('dashboard.requestsUnit')} loading={usage.isPending} />
        <Typography.Text type="secondary">{t('dashboard.tokens', { n: formatNumber(usage.data?.total_tokens ?? 0) })}</Typography.Text>
      </Col>
      <Col xs={12} md={6}>
        <Statistic title={t('dashboard.devicesInUse')} value={devices ? `${formatNumber(devices.gpus - devices.free_gpus)} / ${formatNumber(devices.gpus)}` : '–'} loading={cluster.isPending} />
        {devices && devices.gpus > 0 && <Progress percent={usedPercent(devices.gpus - devices.free_gpus, devices.gpus) ?? 0} size="small" aria-label={t('dashboard.devicesInUse')} />}
      </Col>
    </Row>
  );
}

export function Dashboard() {
  const { t } = useTranslation();
  const me = useMe();
  const permissions = me.data?.permissions ?? [];
  const canSeeJobs = permissions.includes('view_metrics');
  const canSeeAudit = permissions.includes('manage_users');
  const running = useJobs('running', canSeeJobs);
  const queued = useJobs('queued', canSeeJobs);
  const projects = useProjects();
  const activity = useQuery({
    queryKey: ['audit-events', 'recent'],
    enabled: canSeeAudit,
    queryFn: async () => unwrap(await api.GET('/api/v1/audit-events', { params: { query: { limit: 10 } } })),
  });

  if (me.isPending) return <Skeleton active />;
  if (me.error) return <ErrorNotice error={me.error} onRetry={() => void me.refetch()} />;
  const { user } = me.data;
  const role = user.role as 'admin' | 'researcher' | 'developer' | 'viewer';
  return (
    <>
      <Typography.Title level={1} style={{ fontSize: 24 }}>{t('dashboard.welcome', { name: user.name })}</Typography.Title>
      <Typography.Paragraph type="secondary">{t('dashboard.role', { role: t(`roles.${role}`) })}</Typography.Paragraph>
      <Row gutter={[16, 16]}>
        {canSeeJobs && (
          <Col xs={24} lg={12}>
            <Card title={t('dashboard.jobs')}>
              {running.error || queued.error ? (
                <ErrorNotice error={running.error ?? queued.error} />
              ) : (
                <Row gutter={16}>
                  <Col span={12}><Statistic title={t('dashboard.running')} value={countOf(running.data)} loading={running.isPending} /></Col>
                  <Col span={12}><Statistic title={t('dashboard.queued')} value={countOf(queued.data)} loading={queued.isPending} /></Col>
                </Row>
              )}
            </Card>
          </Col>
        )}
        {canSeeJobs && (
          <Col xs={24}>
            <Card title={t('dashboard.thisMonth')}>
              <ThisMonth />
            </Card>
          </Col>
        )}
        <Col xs={24} lg={12}>
          <Card title={t('dashboard.projects')}>
            {projects.error ? (
              <ErrorNotice error={projects.error} onRetry={() => void projects.refetch()} />
            ) : (
              <List
                loading={projects.isPending}
                dataSource={projects.data?.data ?? []}
                locale={{ emptyText: t('dashboard.noProjects') }}
                renderItem={(p) => (
                  <List.Item>
                    <Link to={`/projects/${p.id}`}>{p.name}</Link>
                    {p.my_role && <Tag>{p.my_role}</Tag>}
                  </List.Item>
                )}
              />
            )}
          </Card>
        </Col>
        {canSeeAudit && (
          <Col xs={24}>
            <Card title={t('dashboard.activity')}>
              {activity.error ? (
                <ErrorNotice error={activity.error} onRetry={() => void activity.refetch()} />
              ) : (
                <List
                  loading={activity.isPending}
                  dataSource={activity.data?.data ?? []}
                  locale={{ emptyText: t('dashboard.noActivity') }}
                  renderItem={(e) => (
                    <List.Item>
                      <Typography.Text code>{e.action}</Typography.Text>
                      <Typography.Text type="secondary">{formatDateTime(e.occurred_at_ms)}</Typography.Text>
                    </List.Item>
                  )}
                />
              )}
            </Card>
          </Col>
        )}
      </Row>
    </>
  );
}
