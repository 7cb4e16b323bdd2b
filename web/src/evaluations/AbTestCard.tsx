// An offline A/B test of the candidate (B) against the control (A) on one metric: the method,
// the confidence, and the verdict with the difference, its interval, the p-value and the sample
// size that would detect it.
import { useMutation, useQueryClient } from '@tanstack/react-query';
import { Alert, Button, Card, Descriptions, Form, InputNumber, Select, Space } from 'antd';
import { useState } from 'react';
import { useTranslation } from 'react-i18next';
import { api, unwrap, type Schemas } from '../api/client';
import { ErrorNotice } from '../app/ErrorNotice';
import { formatNumber } from '../i18n/format';

type Metric = Schemas['NewAbTest']['metric'];
type Method = NonNullable<Schemas['NewAbTest']['method']>;
const signed = (v: number | undefined) => (v == null ? '—' : `${v >= 0 ? '+' : ''}${formatNumber(v, { maximumFractionDigits: 3 })}`);

export function AbTestResults({ r }: { r: Schemas['AbResults'] }) {
  const { t } = useTranslation();
  return (
    <Space direction="vertical" style={{ width: '100%' }}>
      <Alert type={r.significant ? 'success' : 'info'} showIcon title={r.significant ? t('compare.significant') : t('compare.notSignificant')} description={r.verdict} />
      <Descriptions size="small" column={{ xs: 1, md: 3 }}>
        <Descriptions.Item label={t('compare.scoreA')}>{formatNumber(r.score_a, { maximumFractionDigits: 3 })}</Descriptions.Item>
        <Descriptions.Item label={t('compare.scoreB')}>{formatNumber(r.score_b, { maximumFractionDigits: 3 })}</Descriptions.Item>
        <Descriptions.Item label={t('compare.difference')}>{signed(r.difference)}</Descriptions.Item>
        <Descriptions.Item label={t('compare.intervalAt', { level: formatNumber(r.confidence, { style: 'percent' }) })}>{`[${signed(r.interval[0])}, ${signed(r.interval[1])}]`}</Descriptions.Item>
        <Descriptions.Item label={t('compare.pValue')}>{formatNumber(r.p_value, { maximumFractionDigits: 4 })}</Descriptions.Item>
        <Descriptions.Item label={t('compare.examples')}>{formatNumber(r.examples)}</Descriptions.Item>
        <Descriptions.Item label={t('compare.sampleSize')}>
          {r.sample_size_needed == null ? '—' : t('compare.sampleSizeFor', { n: formatNumber(r.sample_size_needed), effect: formatNumber(r.effect_for_sample_size, { maximumFractionDigits: 3 }) })}
        </Descriptions.Item>
        <Descriptions.Item label={t('compare.method')}>{t(`compare.methods.${r.method}`, { defaultValue: r.method })}</Descriptions.Item>
      </Descriptions>
    </Space>
  );
}

export function AbTestCard({ a, b, metrics }: { a: Schemas['ComparedEvaluation']; b: Schemas['ComparedEvaluation']; metrics: string[] }) {
  const { t } = useTranslation();
  const queryClient = useQueryClient();
  const [result, setResult] = useState<Schemas['AbTestView'] | null>(null);
  const run = useMutation({
    mutationFn: async (f: { metric: Metric; method: Method; confidence: number }) =>
      unwrap(await api.POST('/api/v1/ab-tests', { body: { evaluation_a: a.id, evaluation_b: b.id, metric: f.metric, method: f.method, confidence: f.confidence } })),
    onSuccess: async (v) => {
      setResult(v);
      await queryClient.invalidateQueries({ queryKey: ['ab-tests'] });
    },
  });
  return (
    <Card title={t('compare.abTitle', { a: a.name, b: b.name })}>
      <Form layout="inline" initialValues={{ metric: metrics[0], method: 'paired_bootstrap', confidence: 0.95 }} onFinish={(f) => run.mutate(f)} style={{ rowGap: 8, marginBottom: 16 }}>
        <Form.Item name="metric" label={t('compare.metric')}>
          <Select style={{ width: 160 }} options={metrics.map((m) => ({ value: m, label: m }))} />
        </Form.Item>
        <Form.Item name="method" label={t('compare.method')}>
          <Select style={{ width: 240 }} options={(['paired_bootstrap', 'approximate_randomization'] as Method[]).map((m) => ({ value: m, label: t(`compare.methods.${m}`) }))} />
        </Form.Item>
        <Form.Item name="confidence" label={t('compare.confidence')}>
          <InputNumber min={0.5} max={0.999} step={0.01} style={{ width: 100 }} />
        </Form.Item>
        <Button type="primary" htmlType="submit" loading={run.isPending}>{t('compare.runAb')}</Button>
      </Form>
      {run.error && <ErrorNotice error={run.error} />}
      {result && <AbTestResults r={result.results} />}
    </Card>
  );
}
