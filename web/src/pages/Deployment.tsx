// One deployment: its state with start and stop, the playground, usage over the last day
// (totals, latency percentiles, requests, tokens and latency per minute, per API key, and one
// key's alone) and the code that calls it.
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { Alert, Button, Card, Col, Flex, Popconfirm, Row, Select, Skeleton, Space, Statistic, Table, Tabs, Typography } from 'antd';
import { useState } from 'react';
import { useTranslation } from 'react-i18next';
import { Link, useParams } from 'react-router';
import { api, unwrap, type Schemas } from '../api/client';
import { ErrorNotice } from '../app/ErrorNotice';
import { useCan } from '../app/useMe';
import { DeploymentState } from '../deployments/DeploymentState';
import { Playground } from '../deployments/Playground';
import { formatNumber } from '../i18n/format';
import { MetricChart } from '../training/MetricChart';

const DAY_MS = 24 * 3600 * 1000;

type UsageData = Schemas['UsageView'];

function useUsage(deploymentId: string, apiKeyId: string | null, enabled = true) {
  return useQuery({
    queryKey: ['deployments', deploymentId, 'usage', apiKeyId],
    refetchInterval: 10_000,
    enabled,
    queryFn: async () => {
      const to = Date.now();
      const query = { bucket: 'minute', from: to - DAY_MS, to, ...(apiKeyId ? { api_key_id: apiKeyId } : {}) };
      return unwrap(await api.GET('/api/v1/deployments/{deployment_id}/usage', { params: { path: { deployment_id: deploymentId }, query } }));
    },
  });
}

/** Each bucket's value as a chart series over time. */
function series(u: UsageData, name: string, value: (b: UsageData['data'][number]) => number) {
  return { name, points: u.data.map((b) => ({ step: 0, time_ms: b.start * 1000, value: value(b) })) };
}

function keyLabel(k: Schemas['KeyUsageView'], session: string) {
  return k.api_key_id ? `${k.name ?? k.api_key_id} (tk_${k.prefix ?? '?'}_…)` : session;
}

function Usage({ deploymentId }: { deploymentId: string }) {
  const { t } = useTranslation();
  const [apiKeyId, setApiKeyId] = useState<string | null>(null);
  const all = useUsage(deploymentId, null);
  const filtered = useUsage(deploymentId, apiKeyId, apiKeyId !== null);
  const usage = apiKeyId ? filtered : all;
  if (usage.isPending) return <Skeleton active />;
  if (usage.error) return <ErrorNotice error={usage.error} onRetry={() => void usage.refetch()} />;
  const u = usage.data;
  const ms = (v?: number) => (v == null ? '–' : `${formatNumber(v, { maximumFractionDigits: 0 })} ms`);
  const session = t('deployments.sessionRequests');
  const keyOptions = (all.data?.by_key ?? []).filter((k) => k.api_key_id).map((k) => ({ value: k.api_key_id as string, label: keyLabel(k, session) }));
  return (
    <Space direction="vertical" style={{ width: '100%' }}>
      <Select
        aria-label={t('deployments.keyFilter')}
        style={{ minWidth: 280 }}
        value={apiKeyId ?? ''}
        onChange={(v) => setApiKeyId(v || null)}
        options={[{ value: '', label: t('deployments.allKeys') }, ...keyOptions]}
      />
      <Row gutter={16}>
        <Col xs={12} md={4}><Statistic title={t('deployments.requests')} value={formatNumber(u.requests)} /></Col>
        <Col xs={12} md={4}><Statistic title={t('deployments.errors')} value={formatNumber(u.errors)} /></Col>
        <Col xs={12} md={4}><Statistic title={t('deployments.tokens')} value={formatNumber(u.total_tokens)} /></Col>
        <Col xs={12} md={4}><Statistic title={t('deployments.p50')} value={ms(u.latency_ms?.p50)} /></Col>
        <Col xs={12} md={4}><Statistic title={t('deployments.p95')} value={ms(u.latency_ms?.p95)} /></Col>
        <Col xs={12} md={4}><Statistic title={t('deployments.p99')} value={ms(u.latency_ms?.p99)} /></Col>
      </Row>
      {u.data.length > 0 ? (
        <Row gutter={16}>
          <Col xs={24} lg={8}>
            <MetricChart
              label={t('deployments.requestsChart')}
              series={[series(u, t('deployments.requests'), (b) => b.requests), series(u, t('deployments.errors'), (b) => b.errors)]}
              x="time"
              height={220}
            />
          </Col>
          <Col xs={24} lg={8}>
            <MetricChart
              label={t('deployments.tokensChart')}
              series={[series(u, t('deployments.promptTokens'), (b) => b.prompt_tokens), series(u, t('deployments.completionTokens'), (b) => b.completion_tokens)]}
              x="time"
              height={220}
            />
          </Col>
          <Col xs={24} lg={8}>
            <MetricChart
              label={t('deployments.latencyChart')}
              series={(['p50', 'p95', 'p99'] as const).map((q) => series(u, q, (b) => b.latency_ms[q]))}
              x="time"
              height={220}
            />
          </Col>
        </Row>
      ) : (
        <Typography.Text type="secondary">{t('deployments.noRequests')}</Typography.Text>
      )}
      {u.by_key.length > 0 && (
        <Table<Schemas['KeyUsageView']>
          size="small"
          rowKey={(k) => k.api_key_id ?? 'session'}
          pagination={false}
          dataSource={u.by_key}
          columns={[
            { title: t('deployments.key'), key: 'key', render: (_, k) => keyLabel(k, session) },
            { title: t('deployments.requests'), dataIndex: 'requests', align: 'right', render: (n: number) => formatNumber(n) },
            { title: t('deployments.errors'), dataIndex: 'errors', align: 'right', render: (n: number) => formatNumber(n) },
            { title: t('deployments.tokens'), dataIndex: 'total_tokens', align: 'right', render: (n: number) => formatNumber(n) },
            { title: t('deployments.latency'), dataIndex: 'mean_latency_ms', align: 'right', render: (v: number) => ms(v) },
            { title: t('deployments.p95'), key: 'p95', align: 'right', render: (_, k) => ms(k.latency_ms.p95) },
          ]}
        />
      )}
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
      <Typography.Paragraph type="secondary">
        {t('deployments.codeHelp')} <Link to="/api-keys">{t('deployments.createKey')}</Link>
      </Typography.Paragraph>
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
