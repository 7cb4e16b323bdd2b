// Models side by side: their architecture figures in one table, a column per model.
import { useQuery } from '@tanstack/react-query';
import { Drawer, Table } from 'antd';
import { useTranslation } from 'react-i18next';
import { api, unwrap, type Schemas } from '../api/client';
import { ErrorNotice } from '../app/ErrorNotice';
import { formatNumber } from '../i18n/format';

type Spec = Schemas['ModelSpecView'];
const ROWS: (keyof Spec)[] = ['parameters', 'architecture', 'layers', 'hidden_size', 'intermediate_size', 'attention_heads', 'kv_heads', 'head_dim', 'vocab_size', 'context_length', 'tied_embeddings'];

export function CompareDrawer({ ids, onClose }: { ids: string[] | null; onClose: () => void }) {
  const { t } = useTranslation();
  const compared = useQuery({
    queryKey: ['compare', ids],
    enabled: ids !== null && ids.length >= 2,
    queryFn: async () => unwrap(await api.GET('/api/v1/base-models/compare', { params: { query: { ids: (ids ?? []).join(',') } } })),
  });
  const models = compared.data?.data ?? [];
  const value = (spec: Spec, key: keyof Spec) => {
    const v = spec[key];
    if (typeof v === 'boolean') return v ? t('models.yes') : t('models.no');
    if (typeof v === 'number') return key === 'parameters' ? `${formatNumber(v / 1e9, { maximumFractionDigits: 2 })} B` : formatNumber(v);
    return v;
  };
  const rows = [
    { key: 'license', label: t('models.license'), cells: models.map((m) => m.license ?? '–') },
    ...ROWS.map((key) => ({ key, label: t(`models.spec.${key}`), cells: models.map((m) => value(m.spec, key)) })),
  ];
  return (
    <Drawer title={t('models.compareTitle')} open={ids !== null} onClose={onClose} size="large" destroyOnHidden>
      {compared.error ? (
        <ErrorNotice error={compared.error} />
      ) : (
        <Table
          size="small"
          rowKey="key"
          pagination={false}
          scroll={{ x: true }}
          loading={compared.isPending}
          dataSource={rows}
          columns={[
            { title: '', dataIndex: 'label', fixed: 'left' },
            ...models.map((m, i) => ({ title: m.name, key: m.id, render: (_: unknown, r: (typeof rows)[number]) => r.cells[i] })),
          ]}
        />
      )}
    </Drawer>
  );
}
