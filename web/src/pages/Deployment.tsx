// One deployment: its state with start and stop, the playground, usage over the last day
// (totals and requests per minute) and the code that calls it.
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { Alert, Button, Card, Col, Flex, Popconfirm, Row, Skeleton, Space, Statistic, Tabs, Typography } from 'antd';
import { useTranslation } from 'react-i18next';
import { useParams } from 'react-router';
import { api, unwrap } from '../api/client';
import { ErrorNotice } from '../app/ErrorNotice';
import { useCan } from '../app/useMe';
import { DeploymentState } from '../deployments/DeploymentState';
import { Playground } from '../deployments/Playground';
import { formatNumber } from '../i18n/format';
import { MetricChart } from '../training/MetricChart';

const DAY_MS = 24 * 3600 * 1000;

function Usage({ deploymentId }: { deploymentId: string }) {
  const { t } = useTranslation();
  const usage = useQuery({
    queryKey: ['deployments', deploymentId, 'usage'],
    refetchInterval: 10_000,
    queryFn: async () => {
      const to = Date.now();
      return unwrap(
        await api.GET('/api/v1/deployments/{deployment_id}/usage', { params: { path: { deployment_id: deploymentId }, query: { bucket: 'minute', from: to - DAY_MS, to } } }),
      );
    },
  });
  if (usage.isPending) return <Skeleton active />;
  if (usage.error) return <ErrorNotice error={usage.error} onRetry={() => void usage.refetch()} />;
  const u = usage.data;
  const latency = u.requests > 0 ? u.data.reduce((s, b) => s + b.mean_latency_ms * b.requests, 0) / u.requests : 0;
  const requests = [{ name: t('deployments.requests'), points: u.data.map((b) => ({ step: 0, time_ms: b.start * 1000, value: b.requests })) }];
  return (
    <Space direction="vertical" style={{ width: '100%' }}>
      <Row gutter={16}>
        <Col xs={12} md={6}><Statistic title={t('deployments.requests')} value={formatNumber(u.requests)} /></Col>
        <Col xs={12} md={6}><Statistic title={t('deployments.errors')} value={formatNumber(u.errors)} /></Col>
        <Col xs={12} md={6}><Statistic title={t('deployments.tokens')} value={formatNumber(u.total_tokens)} /></Col>
        <Col xs={12} md={6}><Statistic title={t('deployments.latency')} value={`${formatNumber(latency, { maximumFractionDigits: 0 })} ms`} /></Col>
      </Row>
      {u.data.length > 0 && <MetricChart label={t('deployments.requestsChart')} series={requests} x="time" height={200} />}
    </Space>
  );
}

function Snippets({ name }: { name: string }) {
  const { t } = useTranslation();
  const origin = window.location.origin;
  const curl = `curl ${origin}/v1/chat/completions \\
  -H "Authorization: Bearer $TUNERY_API_KEY" \\
  -H "Content-Type: application/json" \\
  -d '{"model": "${name}", "messages": [{"role": "user", "content": "Hello!"}]}'`;
  const python = `import os
from openai import OpenAI

client = OpenAI(base_url="${origin}/v1", api_key=os.environ["TUNERY_API_KEY"])
answer = client.chat.completions.create(model="${name}", messages=[{"role": "user", "content": "Hello!"}])
print(answer.choices[0].message.content)`;
  const block = (code: string) => (
    <Typography.Paragraph copyable={{ text: code }}>
      <pre style={{ margin: 0, whiteSpace: 'pre-wrap' }}>{code}</pre>
    </Typography.Paragraph>
  );
  return (
    <>
      <Typography.Paragraph type="secondary">{t('deployments.codeHelp')}</Typography.Paragraph>
      <Tabs items={[{ key: 'curl', label: 'curl', children: block(curl) }, { key: 'python', label: 'Python (openai)', children: block(python) }]} />
    </>
  );
}

export function Deployment() {
  const { t } = useTranslation();
  const { deploymentId = '' } = useParams();
  const queryClient = useQueryClient();
  const canDeploy = useCan('deploy_model');
  const deployment = useQuery({
    queryKey: ['deployments', deploymentId],
    refetchInterval: (q) => (q.state.data?.state === 'starting' ? 1_000 : 5_000),
    queryFn: async () => unwrap(await api.GET('/api/v1/deployments/{deployment_id}', { params: { path: { deployment_id: deploymentId } } })),
  });
  const change = useMutation({
    mutationFn: async (action: 'start' | 'stop') =>
      unwrap(
        action === 'start'
          ? await api.POST('/api/v1/deployments/{deployment_id}/start', { params: { path: { deployment_id: deploymentId } } })
          : await api.POST('/api/v1/deployments/{deployment_id}/stop', { params: { path: { deployment_id: deploymentId } } }),
      ),
    onSuccess: () => queryClient.invalidateQueries({ queryKey: ['deployments', deploymentId] }),
  });
  if (deployment.isPending) return <Skeleton active />;
  if (deployment.error) return <ErrorNotice error={deployment.error} onRetry={() => void deployment.refetch()} />;
  const d = deployment.data;
  const running = d.state === 'ready' || d.state === 'starting' || d.state === 'idle';
  return (
    <Space direction="vertical" size="large" style={{ width: '100%' }}>
      <Flex justify="space-between" align="center" wrap>
        <Space align="center">
          <Typography.Title level={1} style={{ fontSize: 24, margin: 0 }}>{d.name}</Typography.Title>
          <DeploymentState state={d.state} />
        </Space>
        {canDeploy &&
          (running ? (
            <Popconfirm title={t('deployments.stopConfirm')} onConfirm={() => change.mutate('stop')} okText={t('deployments.stop')}>
              <Button danger loading={change.isPending}>{t('deployments.stop')}</Button>
            </Popconfirm>
          ) : (
            <Button loading={change.isPending} onClick={() => change.mutate('start')}>{t('deployments.start')}</Button>
          ))}
      </Flex>
      {d.error && <Alert type="error" showIcon title={d.error} />}
      {change.error && <ErrorNotice error={change.error} />}
      {canDeploy && (
        <Card title={t('deployments.playground')}>
          <Playground model={d.name} deploymentId={d.id} />
        </Card>
      )}
      <Card title={t('deployments.usage')}>
        <Usage deploymentId={d.id} />
      </Card>
      <Card title={t('deployments.code')}>
        <Snippets name={d.name} />
      </Card>
    </Space>
  );
}
