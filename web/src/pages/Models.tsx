// Models: fine-tuned models (each opens its experiment record), the base models this
// organization can train (import, delete), and the catalog of open models with search and
// filters. Any two to ten base models or catalog entries compare side by side; each shows on
// which device types every training method fits.
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { Badge, Button, Flex, Input, InputNumber, Popconfirm, Select, Space, Table, Tabs, Typography } from 'antd';
import { useState } from 'react';
import { useTranslation } from 'react-i18next';
import { Link } from 'react-router';
import { api, unwrap, type Schemas } from '../api/client';
import { useBaseModels, useFineTunedModels } from '../api/queries';
import { ErrorNotice } from '../app/ErrorNotice';
import { useCan } from '../app/useMe';
import { formatBytes, formatNumber, formatUnixTime } from '../i18n/format';
import { CompareDrawer } from '../models/CompareDrawer';
import { FitDrawer } from '../models/FitDrawer';
import type { FitSubject } from '../models/fit';
import { ImportDrawer } from '../models/ImportDrawer';

const billions = (n: number) => `${formatNumber(n / 1e9, { maximumFractionDigits: 2 })} B`;
type Fit = { subject: FitSubject; name: string } | null;

function FineTuned() {
  const { t } = useTranslation();
  const models = useFineTunedModels();
  const bases = useBaseModels();
  const baseName = new Map((bases.data?.data ?? []).map((b) => [b.id, b.name]));
  if (models.error) return <ErrorNotice error={models.error} onRetry={() => void models.refetch()} />;
  return (
    <Table<Schemas['ModelView']>
      rowKey="id"
      loading={models.isPending}
      dataSource={models.data?.data ?? []}
      pagination={false}
      locale={{ emptyText: t('models.noFineTuned') }}
      columns={[
        { title: t('models.name'), dataIndex: 'name', render: (name: string, m) => <Link to={`/models/${m.id}`}>{name}</Link> },
        { title: t('models.kind'), dataIndex: 'kind', render: (k: string) => t(`models.kinds.${k as 'adapter'}`, { defaultValue: k }) },
        { title: t('models.base'), dataIndex: 'base_model_id', render: (id: string) => baseName.get(id) ?? id },
        { title: t('models.size'), dataIndex: 'size_bytes', render: (b: number) => formatBytes(b) },
        { title: t('models.created'), dataIndex: 'created_at', render: (s: number) => formatUnixTime(s) },
      ]}
    />
  );
}

function BaseModels({ selected, onSelect, onFit }: { selected: string[]; onSelect: (ids: string[]) => void; onFit: (f: Fit) => void }) {
  const { t } = useTranslation();
  const queryClient = useQueryClient();
  const canManage = useCan('manage_resources');
  const bases = useBaseModels();
  const remove = useMutation({
    mutationFn: async (id: string) => unwrap(await api.DELETE('/api/v1/base-models/{base_model_id}', { params: { path: { base_model_id: id } } })),
    onSettled: () => queryClient.invalidateQueries({ queryKey: ['base-models'] }),
  });
  if (bases.error) return <ErrorNotice error={bases.error} onRetry={() => void bases.refetch()} />;
  const badge = { ready: 'success', importing: 'processing', failed: 'error' } as const;
  return (
    <>
      {remove.error && <ErrorNotice error={remove.error} />}
      <Table<Schemas['BaseModelView']>
        rowKey="id"
        loading={bases.isPending}
        dataSource={bases.data?.data ?? []}
        pagination={false}
        rowSelection={{ selectedRowKeys: selected, onChange: (keys) => onSelect(keys as string[]), getCheckboxProps: (b) => ({ disabled: !b.spec, 'aria-label': t('models.select', { name: b.name }) }) }}
        columns={[
          { title: t('models.name'), dataIndex: 'name' },
          {
            title: t('models.status'),
            dataIndex: 'status',
            render: (s: 'ready' | 'importing' | 'failed', b) => (
              <Space direction="vertical" size={0}>
                <Badge status={badge[s] ?? 'default'} text={t(`models.statuses.${s}`, { defaultValue: s })} />
                {b.error && <Typography.Text type="danger">{b.error}</Typography.Text>}
              </Space>
            ),
          },
          { title: t('models.parameters'), key: 'params', render: (_, b) => (b.spec ? billions(b.spec.parameters) : '–') },
          { title: t('models.context'), key: 'context', render: (_, b) => (b.spec ? formatNumber(b.spec.context_length) : '–') },
          { title: t('models.license'), dataIndex: 'license', render: (l?: string | null) => l ?? '–' },
          {
            title: t('models.source'),
            key: 'source',
            render: (_, b) => {
              const source = `${t(`models.sources.${b.source_kind as 'hub'}`, { defaultValue: b.source_kind })}${b.source_ref ? `: ${b.source_ref}` : ''}`;
              return <Typography.Text ellipsis={{ tooltip: source }} style={{ maxWidth: 320 }}>{source}</Typography.Text>;
            },
          },
          {
            title: '',
            key: 'actions',
            render: (_, b) => (
              <Flex gap={8}>
                {b.status === 'ready' && <Button size="small" onClick={() => onFit({ subject: { base_model_id: b.id }, name: b.name })}>{t('models.fit')}</Button>}
                {canManage && b.organization_id && (
                  <Popconfirm title={t('models.deleteConfirm', { name: b.name })} onConfirm={() => remove.mutate(b.id)} okButtonProps={{ danger: true }} okText={t('models.delete')}>
                    <Button size="small" danger>{t('models.delete')}</Button>
                  </Popconfirm>
                )}
              </Flex>
            ),
          },
        ]}
      />
    </>
  );
}

type CatalogFilters = { search?: string; family?: string; license?: string; maxBillions?: number | null; minContext?: number | null };

function Catalog({ selected, onSelect, onFit, onImport }: { selected: string[]; onSelect: (ids: string[]) => void; onFit: (f: Fit) => void; onImport: (repo: string) => void }) {
  const { t } = useTranslation();
  const canManage = useCan('manage_resources');
  const [filters, setFilters] = useState<CatalogFilters>({});
  const all = useQuery({ queryKey: ['catalog'], queryFn: async () => unwrap(await api.GET('/api/v1/base-models/catalog')) });
  const catalog = useQuery({
    queryKey: ['catalog', filters],
    placeholderData: (previous) => previous,
    queryFn: async () =>
      unwrap(
        await api.GET('/api/v1/base-models/catalog', {
          params: {
            query: {
              ...(filters.search?.trim() ? { search: filters.search.trim() } : {}),
              ...(filters.family ? { family: filters.family } : {}),
              ...(filters.license ? { license: filters.license } : {}),
              ...(filters.maxBillions ? { max_parameters: Math.round(filters.maxBillions * 1e9) } : {}),
              ...(filters.minContext ? { min_context_length: filters.minContext } : {}),
            },
          },
        }),
      ),
  });
  const distinct = (f: (m: Schemas['CatalogModelView']) => string) => [...new Set((all.data?.data ?? []).map(f))].sort().map((v) => ({ value: v, label: v }));
  const set = (patch: CatalogFilters) => setFilters((f) => ({ ...f, ...patch }));
  if (catalog.error) return <ErrorNotice error={catalog.error} onRetry={() => void catalog.refetch()} />;
  return (
    <Space direction="vertical" style={{ width: '100%' }}>
      <Flex gap={8} wrap>
        <Input.Search aria-label={t('models.search')} placeholder={t('models.search')} allowClear onSearch={(search) => set({ search })} style={{ width: 240 }} />
        <Select aria-label={t('models.family')} placeholder={t('models.family')} allowClear options={distinct((m) => m.family)} onChange={(family?: string) => set({ family })} style={{ width: 160 }} />
        <Select aria-label={t('models.license')} placeholder={t('models.license')} allowClear options={distinct((m) => m.license)} onChange={(license?: string) => set({ license })} style={{ width: 180 }} />
        <InputNumber aria-label={t('models.maxBillions')} placeholder={t('models.maxBillions')} min={0.01} step={0.5} onChange={(v) => set({ maxBillions: v })} style={{ width: 200 }} />
        <InputNumber aria-label={t('models.minContext')} placeholder={t('models.minContext')} min={1} step={1024} onChange={(v) => set({ minContext: v })} style={{ width: 200 }} />
      </Flex>
      <Table<Schemas['CatalogModelView']>
        rowKey="repo_id"
        size="small"
        loading={catalog.isPending}
        dataSource={catalog.data?.data ?? []}
        pagination={{ pageSize: 20, hideOnSinglePage: true }}
        locale={{ emptyText: t('models.catalogEmpty') }}
        rowSelection={{ selectedRowKeys: selected, preserveSelectedRowKeys: true, onChange: (keys) => onSelect(keys as string[]), getCheckboxProps: (m) => ({ 'aria-label': t('models.select', { name: m.repo_id }) }) }}
        columns={[
          { title: t('models.repo'), dataIndex: 'repo_id', render: (r: string) => <Typography.Text code>{r}</Typography.Text> },
          { title: t('models.family'), dataIndex: 'family' },
          { title: t('models.parameters'), key: 'params', render: (_, m) => billions(m.spec.parameters), sorter: (a, b) => a.spec.parameters - b.spec.parameters },
          { title: t('models.context'), key: 'context', render: (_, m) => formatNumber(m.spec.context_length), sorter: (a, b) => a.spec.context_length - b.spec.context_length },
          { title: t('models.license'), dataIndex: 'license' },
          {
            title: '',
            key: 'actions',
            render: (_, m) => (
              <Flex gap={8}>
                <Button size="small" onClick={() => onFit({ subject: { catalog_repo_id: m.repo_id }, name: m.repo_id })}>{t('models.fit')}</Button>
                {canManage && <Button size="small" onClick={() => onImport(m.repo_id)}>{t('models.import')}</Button>}
              </Flex>
            ),
          },
        ]}
      />
    </Space>
  );
}

export function Models() {
  const { t } = useTranslation();
  const canManage = useCan('manage_resources');
  const [selectedBases, setSelectedBases] = useState<string[]>([]);
  const [selectedCatalog, setSelectedCatalog] = useState<string[]>([]);
  const [comparing, setComparing] = useState<string[] | null>(null);
  const [fit, setFit] = useState<Fit>(null);
  const [importing, setImporting] = useState<{ repo?: string } | null>(null);
  const selected = [...selectedBases, ...selectedCatalog];
  return (
    <Space direction="vertical" size="middle" style={{ width: '100%' }}>
      <Flex justify="space-between" align="center" wrap gap={8}>
        <Typography.Title level={1} style={{ fontSize: 24, margin: 0 }}>{t('models.title')}</Typography.Title>
        <Space>
          <Button disabled={selected.length < 2 || selected.length > 10} onClick={() => setComparing(selected)}>
            {t('models.compare', { n: selected.length })}
          </Button>
          {canManage && <Button type="primary" onClick={() => setImporting({})}>{t('models.importTitle')}</Button>}
        </Space>
      </Flex>
      <Typography.Text type="secondary">{t('models.compareHelp')}</Typography.Text>
      <Tabs
        items={[
          { key: 'fine-tuned', label: t('models.fineTuned'), children: <FineTuned /> },
          { key: 'base', label: t('models.bases'), children: <BaseModels selected={selectedBases} onSelect={setSelectedBases} onFit={setFit} /> },
          {
            key: 'catalog',
            label: t('models.catalog'),
            children: <Catalog selected={selectedCatalog} onSelect={setSelectedCatalog} onFit={setFit} onImport={(repo) => setImporting({ repo })} />,
          },
        ]}
      />
      <CompareDrawer ids={comparing} onClose={() => setComparing(null)} />
      <FitDrawer subject={fit?.subject ?? null} name={fit?.name ?? ''} onClose={() => setFit(null)} />
      <ImportDrawer open={importing !== null} repo={importing?.repo} onClose={() => setImporting(null)} />
    </Space>
  );
}
