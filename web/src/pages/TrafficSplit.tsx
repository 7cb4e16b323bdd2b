// A traffic split (an online A/B test): the name clients call, each variant's share and how it
// did — requests, errors, latency, user ratings and their difference from the control with its
// p-value — and the conclusion in words; weights changed in place, paused and resumed, deleted.
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { Alert, Button, Card, InputNumber, Popconfirm, Skeleton, Space, Switch, Table, Typography } from 'antd';
import { useEffect, useState } from 'react';
import { useTranslation } from 'react-i18next';
import { Link, useNavigate, useParams } from 'react-router';
import { api, unwrap, type Schemas } from '../api/client';
import { useDeployments } from '../api/queries';
import { ErrorNotice } from '../app/ErrorNotice';
import { PageHeader } from '../app/PageHeader';
import { useCan } from '../app/useMe';
import { formatNumber } from '../i18n/format';

type Row = Schemas['VariantResultView'];
const n = (v: number | null | undefined, digits = 2) => (v == null ? '—' : formatNumber(v, { maximumFractionDigits: digits }));

export function TrafficSplit() {
  const { t } = useTranslation();
  const { splitId = '' } = useParams();
  const navigate = useNavigate();
  const queryClient = useQueryClient();
  const mayManage = useCan('deploy_model');
  const deployments = useDeployments();
  const results = useQuery({
    queryKey: ['traffic-splits', splitId],
    refetchInterval: 10_000,
    queryFn: async () => unwrap(await api.GET('/api/v1/traffic-splits/{split_id}', { params: { path: { split_id: splitId } } })),
  });
  const [weights, setWeights] = useState<number[]>([]);
  const saved = results.data?.split.variants.map((v) => v.weight) ?? [];
  useEffect(() => setWeights(saved), [saved.join(',')]); // eslint-disable-line react-hooks/exhaustive-deps
  const change = useMutation({
    mutationFn: async (body: Schemas['SplitChanges']) => unwrap(await api.PATCH('/api/v1/traffic-splits/{split_id}', { params: { path: { split_id: splitId } }, body })),
    onSettled: () => queryClient.invalidateQueries({ queryKey: ['traffic-splits'] }),
  });
  const remove = useMutation({
    mutationFn: async () => unwrap(await api.DELETE('/api/v1/traffic-splits/{split_id}', { params: { path: { split_id: splitId } } })),
    onSuccess: async () => {
      await queryClient.invalidateQueries({ queryKey: ['traffic-splits'] });
      navigate('/deployments');
    },
  });
  if (results.isPending) return <Skeleton active />;
  if (results.error) return <ErrorNotice error={results.error} onRetry={() => void results.refetch()} />;
  const { split, variants, conclusion } = results.data;
  const nameOf = (id: string) => deployments.data?.data.find((d) => d.id === id)?.name ?? id;
  const total = weights.reduce((a, b) => a + b, 0) || 1;
  const dirty = weights.join(',') !== saved.join(',');
  return (
    <Space direction="vertical" size="large" style={{ width: '100%' }}>
      <PageHeader
        back={{ to: '/deployments', label: t('splits.back') }}
        title={split.name}
        actions={
          mayManage && (
            <Space>
              <Switch checked={split.active} loading={change.isPending} onChange={(active) => change.mutate({ active })} aria-label={t('splits.active')} />
              <Typography.Text>{split.active ? t('splits.activeOn') : t('splits.activeOff')}</Typography.Text>
              <Popconfirm title={t('splits.deleteConfirm', { name: split.name })} onConfirm={() => remove.mutate()} okButtonProps={{ danger: true }}>
                <Button danger loading={remove.isPending}>{t('splits.delete')}</Button>
              </Popconfirm>
            </Space>
          )
        }
      >
        <Typography.Paragraph type="secondary">{t('splits.callAs', { name: split.name, sticky: t(`splits.stickies.${split.sticky}`) })}</Typography.Paragraph>
      </PageHeader>
      {(change.error ?? remove.error) && <ErrorNotice error={change.error ?? remove.error} />}
      <Alert type="info" showIcon title={t('splits.conclusion')} description={conclusion} />
      <Card title={t('splits.variants')}>
        <Table<Row>
          size="small"
          pagination={false}
          rowKey="deployment_id"
          dataSource={variants}
          columns={[
            { title: t('splits.deployment'), dataIndex: 'deployment_id', render: (id: string, _, i) => <Link to={`/deployments/${id}`}>{`${nameOf(id)}${i === 0 ? ` (${t('splits.control')})` : ''}`}</Link> },
            {
              title: t('splits.weight'),
              key: 'weight',
              render: (_, __, i) =>
                mayManage ? (
                  <Space>
                    <InputNumber min={1} max={1000} precision={0} value={weights[i]} aria-label={t('splits.weightOf', { n: i + 1 })} onChange={(v) => setWeights((w) => w.map((x, j) => (j === i ? (v ?? x) : x)))} style={{ width: 90 }} />
                    <Typography.Text type="secondary">{formatNumber((weights[i] ?? 0) / total, { style: 'percent', maximumFractionDigits: 0 })}</Typography.Text>
                  </Space>
                ) : (
                  formatNumber((weights[i] ?? 0) / total, { style: 'percent', maximumFractionDigits: 0 })
                ),
            },
            { title: t('splits.requests'), dataIndex: 'requests', render: (v: number) => formatNumber(v) },
            { title: t('splits.errorRate'), dataIndex: 'error_rate', render: (v?: number | null) => (v == null ? '—' : formatNumber(v, { style: 'percent', maximumFractionDigits: 1 })) },
            { title: t('splits.latency'), dataIndex: 'mean_latency_ms', render: (v?: number | null) => n(v, 0) },
            { title: t('splits.ratings'), dataIndex: 'ratings', render: (v: number) => formatNumber(v) },
            { title: t('splits.meanRating'), dataIndex: 'mean_rating', render: (v?: number | null) => n(v) },
            { title: t('splits.difference'), dataIndex: 'difference', render: (v?: number | null) => (v == null ? '—' : `${v >= 0 ? '+' : ''}${n(v)}`) },
            { title: t('splits.pValue'), dataIndex: 'p_value', render: (v?: number | null) => n(v, 4) },
          ]}
        />
        {mayManage && (
          <Button style={{ marginTop: 12 }} type="primary" disabled={!dirty} loading={change.isPending} onClick={() => change.mutate({ variants: split.variants.map((v, i) => ({ ...v, weight: weights[i] ?? v.weight })) })}>
            {t('splits.saveWeights')}
          </Button>
        )}
      </Card>
    </Space>
  );
}
