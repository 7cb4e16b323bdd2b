// Evaluations compared on one test set (`/evaluations/compare?ids=a,b,…`, the first is the
// baseline): every metric's score and interval per model, wins, ties and losses against the
// baseline per example, the per-example score distributions, the examples side by side with
// word diffs against the baseline's answer, and, for two, an offline A/B test with its verdict.
import { useQuery } from '@tanstack/react-query';
import { Alert, Button, Card, Select, Skeleton, Space, Table, Typography } from 'antd';
import { useMemo, useState } from 'react';
import { useTranslation } from 'react-i18next';
import { Link, useSearchParams } from 'react-router';
import { api, unwrap, type Schemas } from '../api/client';
import { ErrorNotice } from '../app/ErrorNotice';
import { chosenIds, PageHeader } from '../app/PageHeader';
import { useEChart } from '../app/useEChart';
import { AbTestCard } from '../evaluations/AbTestCard';
import { WordDiff } from '../evaluations/WordDiff';
import { formatNumber } from '../i18n/format';

type Comparison = Schemas['Comparison'];
type Metric = Schemas['NewAbTest']['metric'];
const AB_METRICS: Metric[] = ['bleu', 'chrf', 'chrf++', 'rouge1', 'rouge2', 'rougeL', 'rougeLsum', 'meteor', 'exact_match', 'f1', 'accuracy', 'bertscore', 'bleurt'];
const PAGE = 10;
const score = (v: number | null | undefined) => (v == null ? '—' : formatNumber(v, { maximumFractionDigits: 2 }));
const label = (e: Schemas['ComparedEvaluation']) => `${e.name}${e.model ? ` (${e.model})` : ''}`;

function Distributions({ c, title }: { c: Comparison; title: string }) {
  const option = useMemo(
    () => ({
      animation: false,
      grid: { left: 48, right: 16, top: 32, bottom: 40 },
      tooltip: { trigger: 'axis' },
      legend: { top: 0 },
      xAxis: { type: 'category', data: Array.from({ length: 10 }, (_, i) => `${i * 10}–${i * 10 + 10}`) },
      yAxis: { type: 'value', minInterval: 1 },
      series: c.histograms.map((h, i) => ({ type: 'bar', name: c.evaluations[i]?.name ?? h.evaluation_id, data: h.bins })),
    }),
    [c],
  );
  const element = useEChart(option);
  return <div ref={element} role="img" aria-label={title} style={{ width: '100%', height: 260 }} />;
}

export function EvaluationsCompare() {
  const { t } = useTranslation();
  const [params] = useSearchParams();
  const { ids, valid } = chosenIds(params);
  const [metric, setMetric] = useState<string | null>(null);
  const [from, setFrom] = useState(0);
  const comparison = useQuery({
    queryKey: ['comparisons', ids.join(','), metric, from],
    enabled: valid,
    placeholderData: (previous) => previous,
    queryFn: async () => unwrap(await api.POST('/api/v1/comparisons', { body: { evaluation_ids: ids, metric, from, limit: PAGE } })),
  });
  const back = <Link to="/evaluations">{t('compare.back')}</Link>;
  if (!valid) return <Space direction="vertical">{back}<Alert type="warning" showIcon title={t('compare.tooFew')} /></Space>;
  if (comparison.error) return <Space direction="vertical" style={{ width: '100%' }}>{back}<ErrorNotice error={comparison.error} onRetry={() => void comparison.refetch()} /></Space>;
  if (!comparison.data) return <Skeleton active />;
  const c = comparison.data;
  const [baseline, ...others] = c.evaluations;
  const metrics = Object.keys(c.table);
  const abMetrics = metrics.filter((m): m is Metric => (AB_METRICS as string[]).includes(m));
  return (
    <Space direction="vertical" size="large" style={{ width: '100%' }}>
      <PageHeader back={{ to: '/evaluations', label: t('compare.back') }} title={t('compare.title', { count: c.evaluations.length })}>
        <Typography.Text type="secondary">{t('compare.baseline', { name: baseline ? label(baseline) : '' })}</Typography.Text>
      </PageHeader>
      <Card title={t('compare.scores')}>
        <Table
          size="small"
          pagination={false}
          rowKey="metric"
          dataSource={metrics.map((m) => ({ metric: m, scores: c.table[m] ?? [] }))}
          columns={[
            { title: t('compare.metric'), dataIndex: 'metric' },
            ...c.evaluations.map((e, i) => ({
              title: label(e),
              key: e.id,
              render: (_: unknown, row: { scores: (Schemas['TableScore'] | null)[] }) => {
                const s = row.scores[i];
                return s ? `${score(s.score)}${s.interval ? ` [${score(s.interval[0])}, ${score(s.interval[1])}]` : ''}` : '—';
              },
            })),
          ]}
        />
      </Card>
      <Card
        title={t('compare.perExample', { metric: c.metric })}
        extra={<Select aria-label={t('compare.metric')} value={c.metric} style={{ width: 160 }} onChange={(m) => { setMetric(m); setFrom(0); }} options={metrics.map((m) => ({ value: m, label: m }))} />}
      >
        <Table
          size="small"
          pagination={false}
          rowKey="evaluation_id"
          dataSource={c.versus_first}
          columns={[
            { title: t('compare.model'), dataIndex: 'evaluation_id', render: (id: string) => label(c.evaluations.find((e) => e.id === id) ?? { id, name: id, kind: '' }) },
            { title: t('compare.wins'), dataIndex: 'wins' },
            { title: t('compare.ties'), dataIndex: 'ties' },
            { title: t('compare.losses'), dataIndex: 'losses' },
          ]}
        />
        <Distributions c={c} title={t('compare.distribution', { metric: c.metric })} />
      </Card>
      {baseline && others.length === 1 && others[0] && abMetrics.length > 0 && <AbTestCard a={baseline} b={others[0]} metrics={abMetrics} />}
      <Card title={t('compare.sideBySide', { from: formatNumber(c.from + 1), to: formatNumber(c.from + c.examples.length), total: formatNumber(c.examples_total) })}>
        <Table
          size="small"
          pagination={false}
          rowKey="index"
          dataSource={c.examples}
          columns={[
            {
              title: t('compare.prompt'),
              key: 'prompt',
              render: (_, ex) => {
                const messages = (ex.prompt ?? []) as { role?: string; content?: string }[];
                return [...messages].reverse().find((m) => m.role === 'user')?.content ?? '—';
              },
            },
            { title: t('compare.reference'), dataIndex: 'references', render: (r: string[]) => r.join(' | ') },
            ...c.evaluations.map((e, i) => ({
              title: label(e),
              key: e.id,
              render: (_: unknown, ex: Schemas['ComparedExample']) => {
                const a = ex.answers[i];
                if (!a) return '—';
                const value = (a.scores as Record<string, unknown>)[c.metric];
                return (
                  <Space direction="vertical" size={0}>
                    {a.diff_from_first ? <WordDiff ops={a.diff_from_first} /> : <span>{a.prediction}</span>}
                    <Typography.Text type="secondary">{`${c.metric} ${typeof value === 'number' ? score(value) : '—'}`}</Typography.Text>
                  </Space>
                );
              },
            })),
          ]}
        />
        <Space style={{ marginTop: 12 }}>
          <Button disabled={c.from === 0 || comparison.isFetching} onClick={() => setFrom(Math.max(0, c.from - PAGE))}>{t('compare.previous')}</Button>
          <Button disabled={!c.has_more || comparison.isFetching} onClick={() => setFrom(c.from + PAGE)}>{t('compare.next')}</Button>
        </Space>
      </Card>
    </Space>
  );
}
