// The dashboard: who I am, my projects, running and queued jobs, recent activity (for those
// who may read the audit log).
import { useQuery } from '@tanstack/react-query';
import { Card, Col, List, Row, Skeleton, Statistic, Tag, Typography } from 'antd';
import { useTranslation } from 'react-i18next';
import { api, unwrap } from '../api/client';
import { ErrorNotice } from '../app/ErrorNotice';
import { useMe } from '../app/useMe';
import { formatDateTime } from '../i18n/format';

function useJobs(state: 'running' | 'queued', enabled: boolean) {
  return useQuery({
    queryKey: ['jobs', { state }],
    enabled,
    refetchInterval: 5_000,
    queryFn: async () => unwrap(await api.GET('/api/v1/jobs', { params: { query: { state, limit: 100 } } })),
  });
}

export function Dashboard() {
  const { t } = useTranslation();
  const me = useMe();
  const permissions = me.data?.permissions ?? [];
  const canSeeJobs = permissions.includes('view_metrics');
  const canSeeAudit = permissions.includes('manage_users');
  const running = useJobs('running', canSeeJobs);
  const queued = useJobs('queued', canSeeJobs);
  const projects = useQuery({
    queryKey: ['projects'],
    queryFn: async () => unwrap(await api.GET('/api/v1/projects', { params: { query: { limit: 100 } } })),
  });
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
                  <Col span={12}><Statistic title={t('dashboard.running')} value={running.data?.data.length ?? 0} loading={running.isPending} /></Col>
                  <Col span={12}><Statistic title={t('dashboard.queued')} value={queued.data?.data.length ?? 0} loading={queued.isPending} /></Col>
                </Row>
              )}
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
                    <Typography.Text>{p.name}</Typography.Text>
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
