// The record browser: a page of records as uploaded (raw), as Tunery reads them (canonical) or
// as training will see them through a chat template, with the trained spans marked.
import { useQuery } from '@tanstack/react-query';
import { Alert, Flex, List, Pagination, Segmented, Select, Space, Tag, Typography } from 'antd';
import { useState } from 'react';
import { useTranslation } from 'react-i18next';
import { api, unwrap, type Schemas } from '../api/client';
import { useBaseModels } from '../api/queries';
import { ErrorNotice } from '../app/ErrorNotice';
import { formatNumber } from '../i18n/format';
import { pieces } from './spans';

type View = 'raw' | 'canonical' | 'trained';
const PAGE = 10;
const BUILTIN_TEMPLATES = ['chatml', 'llama3', 'qwen2', 'mistral', 'gemma', 'phi3'];

function Trained({ rendered }: { rendered: Schemas['RenderedRecord'] }) {
  return (
    <pre className="record-text">
      {pieces(rendered).map((p, i) =>
        p.trained ? <mark key={i} className="trained">{p.text}</mark> : <span key={i} className={p.role ? `role-${p.role}` : 'template'}>{p.text}</span>,
      )}
    </pre>
  );
}

function Item({ item, view }: { item: Schemas['PreviewItem']; view: View }) {
  const { t } = useTranslation();
  const body =
    view === 'raw' ? (
      <pre className="record-text">{item.raw}{item.raw_truncated ? '…' : ''}</pre>
    ) : view === 'canonical' ? (
      <pre className="record-text">{item.record ? JSON.stringify(item.record, null, 2) : t('datasets.noCanonical')}</pre>
    ) : item.rendered ? (
      <Trained rendered={item.rendered} />
    ) : (
      <Typography.Text type="secondary">{item.render_error ?? t('datasets.notRendered')}</Typography.Text>
    );
  return (
    <List.Item>
      <Space direction="vertical" style={{ width: '100%' }} size={4}>
        <Space wrap>
          <Typography.Text strong>{t('datasets.recordAt', { index: formatNumber(item.index + 1), line: formatNumber(item.line) })}</Typography.Text>
          {item.errors.map((e) => <Tag key={`${e.code}:${e.field ?? ''}`} color="red">{e.code}</Tag>)}
        </Space>
        {body}
      </Space>
    </List.Item>
  );
}

export function Records({ datasetId, version, total }: { datasetId: string; version: number; total: number }) {
  const { t } = useTranslation();
  const [view, setView] = useState<View>('raw');
  const [page, setPage] = useState(1);
  const bases = useBaseModels();
  const withTemplate = (bases.data?.data ?? []).filter((b) => b.status === 'ready' && b.has_chat_template);
  const [template, setTemplate] = useState<string | null>(null);
  const chosenTemplate = template ?? withTemplate[0]?.id ?? 'chatml';
  const records = useQuery({
    queryKey: ['datasets', datasetId, 'versions', version, 'preview', page, view === 'trained' ? chosenTemplate : null],
    placeholderData: (previous) => previous,
    queryFn: async () =>
      unwrap(
        await api.GET('/api/v1/datasets/{dataset_id}/versions/{version}/preview', {
          params: { path: { dataset_id: datasetId, version }, query: { offset: (page - 1) * PAGE, limit: PAGE, ...(view === 'trained' ? { template: chosenTemplate } : {}) } },
        }),
      ),
  });
  return (
    <Space direction="vertical" style={{ width: '100%' }}>
      <Flex gap={12} wrap align="center">
        <Segmented<View>
          aria-label={t('datasets.recordView')}
          value={view}
          onChange={setView}
          options={[
            { value: 'raw', label: t('datasets.views.raw') },
            { value: 'canonical', label: t('datasets.views.canonical') },
            { value: 'trained', label: t('datasets.views.trained') },
          ]}
        />
        {view === 'trained' && (
          <Select
            aria-label={t('datasets.template')}
            style={{ minWidth: 260 }}
            value={chosenTemplate}
            onChange={setTemplate}
            options={[
              ...withTemplate.map((b) => ({ value: b.id, label: t('datasets.templateOf', { name: b.name }) })),
              ...BUILTIN_TEMPLATES.map((name) => ({ value: name, label: name })),
            ]}
          />
        )}
      </Flex>
      {view === 'trained' && <Alert type="info" showIcon title={t('datasets.trainedHelp')} />}
      {records.error ? (
        <ErrorNotice error={records.error} onRetry={() => void records.refetch()} />
      ) : (
        <List loading={records.isPending} dataSource={records.data?.data ?? []} renderItem={(item) => <Item item={item} view={view} />} />
      )}
      <Pagination current={page} pageSize={PAGE} total={total} showSizeChanger={false} onChange={setPage} />
    </Space>
  );
}
