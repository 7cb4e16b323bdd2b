// One evaluation: progress, then each metric's score with its bootstrap interval, and the
// examples side by side (prompt, reference, the model's answer, per-example scores).
import { useQuery } from '@tanstack/react-query';
import { Alert, Card, Progress, Skeleton, Space, Table, Typography } from 'antd';
import { useTranslation } from 'react-i18next';
import { useParams } from 'react-router';
import { api, unwrap, type Schemas } from '../api/client';
import { ErrorNotice } from '../app/ErrorNotice';
import { EvaluationState } from '../evaluations/EvaluationState';
import { formatNumber } from '../i18n/format';

/** The part of `results` this page shows (the API documents the whole shape in words). */
type Results = { metrics?: Record<string, { score?: number | null; interval?: [number, number] | null }> };
type Example = Schemas['EvaluationExample'];

const score = (v: unknown) => (typeof v === 'number' ? formatNumber(v, { maximumFractionDigits: 4 }) : '');

function lastUserMessage(prompt: Example['prompt']): string {
  const messages = (prompt ?? []) as { role?: string; content?: string }[];
  return [...messages].reverse().find((m) => m.role === 'user')?.content ?? '';
}

export function Evaluation() {
  const { t } = useTranslation();
  const { evaluationId = '' } = useParams();
  const evaluation = useQuery({
    queryKey: ['evaluations', evaluationId],
    refetchInterval: (q) => (q.state.data && ['queued', 'running'].includes(q.state.data.state) ? 2_000 : false),
    queryFn: async () => unwrap(await api.GET('/api/v1/evaluations/{evaluation_id}', { params: { path: { evaluation_id: evaluationId } } })),
  });
  const done = evaluation.data?.state === 'succeeded';
  const examples = useQuery({
    queryKey: ['evaluations', evaluationId, 'examples'],
    enabled: done,
    queryFn: async () =>
      unwrap(await api.GET('/api/v1/evaluations/{evaluation_id}/examples', { params: { path: { evaluation_id: evaluationId }, query: { limit: 100 } } })),
  });
  if (evaluation.isPending) return <Skeleton active />;
  if (evaluation.error) return <ErrorNotice error={evaluation.error} onRetry={() => void evaluation.refetch()} />;
  const e = evaluation.data;
  const metrics = Object.entries((e.results as Results | null)?.metrics ?? {});
  const names = metrics.map(([name]) => name);
  return (
    <Space direction="vertical" size="large" style={{ width: '100%' }}>
      <Space align="center">
        <Typography.Title level={1} style={{ fontSize: 24, margin: 0 }}>{e.name}</Typography.Title>
        <EvaluationState state={e.state} />
      </Space>
      {e.error && <Alert type="error" showIcon title={t('evaluations.failed', { message: e.error })} />}
      <Card>
        <Typography.Text>{t('evaluations.progress', { answered: e.progress.answered, total: e.progress.total })}</Typography.Text>
        <Progress aria-label={t('evaluations.progress', { answered: e.progress.answered, total: e.progress.total })} percent={e.progress.total ? Math.floor((100 * e.progress.answered) / e.progress.total) : 0} />
      </Card>
      {done && (
        <Card title={t('evaluations.scores')}>
          <Table
            rowKey={([name]) => name}
            dataSource={metrics}
            pagination={false}
            size="small"
            columns={[
              { title: t('evaluations.metric'), render: (_, [name]) => <Typography.Text code>{name}</Typography.Text> },
              { title: t('evaluations.score'), render: (_, [, m]) => score(m.score) },
              { title: t('evaluations.interval'), render: (_, [, m]) => (m.interval ? `${score(m.interval[0])} – ${score(m.interval[1])}` : '') },
            ]}
          />
        </Card>
      )}
      {done && (
        <Card title={t('evaluations.examples')}>
          {examples.error ? (
            <ErrorNotice error={examples.error} onRetry={() => void examples.refetch()} />
          ) : (
            <Table<Example>
              rowKey="index"
              loading={examples.isPending}
              dataSource={examples.data?.data ?? []}
              size="small"
              pagination={{ pageSize: 20, hideOnSinglePage: true }}
              columns={[
                { title: '#', dataIndex: 'index', width: 60 },
                { title: t('evaluations.prompt'), render: (_, x) => lastUserMessage(x.prompt) },
                { title: t('evaluations.reference'), render: (_, x) => x.references.join(' | ') },
                { title: t('evaluations.prediction'), dataIndex: 'prediction' },
                ...names.map((n) => ({ title: n, width: 110, render: (_: unknown, x: Example) => score((x.scores as Record<string, unknown> | null)?.[n]) })),
              ]}
            />
          )}
        </Card>
      )}
    </Space>
  );
}
