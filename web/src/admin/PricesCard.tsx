// Prices per GPU-hour by GPU type, which every cost, estimate and budget check uses: where each
// comes from (set here, the configuration file, the installation's one price, the list price),
// the types this cluster has first. An instance administrator sets or resets a price; runs keep
// the price they started at.
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { Button, Card, Flex, Form, InputNumber, Modal, Popconfirm, Table, Tag, Typography } from 'antd';
import { useState } from 'react';
import { useTranslation } from 'react-i18next';
import { api, unwrap, type Schemas } from '../api/client';
import { useCluster } from '../api/queries';
import { ErrorNotice } from '../app/ErrorNotice';
import { useMe } from '../app/useMe';
import { useRevalidateOnLanguageChange } from '../app/validation';
import { formatNumber, formatUnixTime } from '../i18n/format';

type Price = Schemas['PriceView'];

function PriceModal({ editing, onClose }: { editing: Price | null; onClose: () => void }) {
  const { t } = useTranslation();
  const queryClient = useQueryClient();
  const [form] = Form.useForm<{ on_demand: number; spot?: number | null }>();
  useRevalidateOnLanguageChange(form);
  const save = useMutation({
    mutationFn: async (v: { on_demand: number; spot?: number | null }) =>
      unwrap(
        await api.PUT('/api/v1/prices/{gpu_type}', {
          params: { path: { gpu_type: editing?.gpu_type ?? '' } },
          body: { on_demand: v.on_demand, spot: v.spot ?? null },
        }),
      ),
    onSuccess: async () => {
      await queryClient.invalidateQueries({ queryKey: ['prices'] });
      onClose();
    },
  });
  return (
    <Modal
      open={editing !== null}
      title={t('prices.editTitle', { type: editing?.gpu_type })}
      okText={t('prices.save')}
      cancelText={t('prices.cancel')}
      confirmLoading={save.isPending}
      onOk={() => form.submit()}
      onCancel={onClose}
      destroyOnHidden
    >
      <Form
        form={form}
        layout="vertical"
        requiredMark={false}
        initialValues={{ on_demand: editing?.on_demand, spot: editing && editing.spot !== editing.on_demand ? editing.spot : null }}
        onFinish={(v) => save.mutate(v)}
      >
        <Form.Item label={t('prices.onDemand')} name="on_demand" rules={[{ required: true, message: t('prices.required') }]}>
          <InputNumber min={0} step={0.01} style={{ width: '100%' }} />
        </Form.Item>
        <Form.Item label={t('prices.spot')} name="spot" extra={t('prices.spotHelp')}>
          <InputNumber min={0} step={0.01} style={{ width: '100%' }} />
        </Form.Item>
      </Form>
      {save.error && <ErrorNotice error={save.error} />}
    </Modal>
  );
}

export function PricesCard() {
  const { t } = useTranslation();
  const queryClient = useQueryClient();
  const me = useMe();
  const mayChange = Boolean(me.data?.user.is_instance_admin);
  const cluster = useCluster();
  const inCluster = new Set((cluster.data?.nodes ?? []).map((n) => n.gpu_type));
  const prices = useQuery({ queryKey: ['prices'], queryFn: async () => unwrap(await api.GET('/api/v1/prices')) });
  const [editing, setEditing] = useState<Price | null>(null);
  const reset = useMutation({
    mutationFn: async (gpuType: string) => unwrap(await api.DELETE('/api/v1/prices/{gpu_type}', { params: { path: { gpu_type: gpuType } } })),
    onSettled: () => queryClient.invalidateQueries({ queryKey: ['prices'] }),
  });
  const rows = [...(prices.data?.data ?? [])].sort((a, b) => Number(inCluster.has(b.gpu_type)) - Number(inCluster.has(a.gpu_type)));
  const money = (v: number) => formatNumber(v, { minimumFractionDigits: 2, maximumFractionDigits: 4 });
  return (
    <Card title={t('prices.title')}>
      <Typography.Paragraph type="secondary">{mayChange ? t('prices.intro') : t('prices.introReadOnly')}</Typography.Paragraph>
      {reset.error && <div style={{ marginBottom: 16 }}><ErrorNotice error={reset.error} /></div>}
      {prices.error ? (
        <ErrorNotice error={prices.error} onRetry={() => void prices.refetch()} />
      ) : (
        <Table<Price>
          rowKey="gpu_type"
          size="small"
          loading={prices.isPending}
          dataSource={rows}
          pagination={false}
          columns={[
            {
              title: t('prices.type'),
              dataIndex: 'gpu_type',
              render: (type: string) => (
                <Flex gap={8} align="center">
                  {type === 'cpu' ? t('jobs.cpuSlots') : type}
                  {inCluster.has(type) && <Tag color="blue">{t('prices.inCluster')}</Tag>}
                </Flex>
              ),
            },
            { title: t('prices.onDemand'), dataIndex: 'on_demand', align: 'right', render: money },
            { title: t('prices.spot'), dataIndex: 'spot', align: 'right', render: money },
            { title: t('prices.source'), dataIndex: 'source', render: (s: Price['source']) => t(`prices.sources.${s}`) },
            { title: t('prices.updated'), dataIndex: 'updated_at', render: (s?: number | null) => (s ? formatUnixTime(s) : '–') },
            ...(mayChange
              ? [
                  {
                    title: t('prices.actions'),
                    key: 'actions',
                    render: (_: unknown, p: Price) => (
                      <Flex gap={8}>
                        <Button size="small" aria-label={t('prices.editNamed', { type: p.gpu_type })} onClick={() => setEditing(p)}>{t('prices.edit')}</Button>
                        {p.source === 'set' && (
                          <Popconfirm title={t('prices.resetConfirm', { type: p.gpu_type })} onConfirm={() => reset.mutate(p.gpu_type)}>
                            <Button size="small" aria-label={t('prices.resetNamed', { type: p.gpu_type })}>{t('prices.reset')}</Button>
                          </Popconfirm>
                        )}
                      </Flex>
                    ),
                  },
                ]
              : []),
          ]}
        />
      )}
      <PriceModal editing={editing} onClose={() => setEditing(null)} />
    </Card>
  );
}
