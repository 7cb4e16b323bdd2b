// One dataset: its versions and, for the chosen one, what validation found (counts, the
// problems per code as a filter, each error with its line and field), its statistics and a
// browser of its records, and its annotation tasks.
import { useQuery } from '@tanstack/react-query';
import { Alert, Button, Card, Col, Empty, Row, Segmented, Skeleton, Space, Statistic, Table, Tag, Typography } from 'antd';
import { useState } from 'react';
import { useTranslation } from 'react-i18next';
import { useParams } from 'react-router';
import { api, unwrap, type Schemas } from '../api/client';
import { ErrorNotice } from '../app/ErrorNotice';
import { useCan } from '../app/useMe';
import { AnnotationTasks } from '../annotation/Tasks';
import { CleanDrawer } from '../datasets/CleanDrawer';
import { History } from '../datasets/History';
import { Records } from '../datasets/Records';
import { Statistics } from '../datasets/Statistics';
import { formatNumber } from '../i18n/format';

type RecordError = Schemas['RecordError'];

function Validation({ datasetId, version }: { datasetId: string; version: number }) {
  const { t } = useTranslation();
  const [code, setCode] = useState<string | null>(null);
  const report = useQuery({
    queryKey: ['datasets', datasetId, 'versions', version, 'validation'],
    queryFn: async () =>
      unwrap(await api.GET('/api/v1/datasets/{dataset_id}/versions/{version}/validation', { params: { path: { dataset_id: datasetId, version }, query: { limit: 1000 } } })),
  });
  if (report.isPending) return <Skeleton active />;
  if (report.error) return <ErrorNotice error={report.error} onRetry={() => void report.refetch()} />;
  const { summary, errors } = report.data;
  const counts = Object.entries(summary.error_counts).filter(([, n]) => (n ?? 0) > 0);
  const shown = code ? errors.filter((e) => e.code === code) : errors;
  return (
    <Space direction="vertical" size="middle" style={{ width: '100%' }}>
      <Row gutter={16}>
        <Col span={8}><Statistic title={t('datasets.records')} value={formatNumber(summary.records)} /></Col>
        <Col span={8}><Statistic title={t('datasets.valid')} value={formatNumber(summary.valid_records)} /></Col>
        <Col span={8}><Statistic title={t('datasets.invalid')} value={formatNumber(summary.invalid_records)} /></Col>
      </Row>
      {summary.file_error && <Alert type="error" showIcon title={t('datasets.fileError', { message: summary.file_error.message })} />}
      {summary.errors_truncated && <Alert type="info" showIcon title={t('datasets.truncated')} />}
      {errors.length === 0 && !summary.file_error ? (
        <Alert type="success" showIcon title={t('datasets.noErrors')} />
      ) : (
        <>
          <Space wrap aria-label={t('datasets.code')}>
            <Tag.CheckableTag checked={code === null} onChange={() => setCode(null)}>{t('datasets.allCodes')}</Tag.CheckableTag>
            {counts.map(([c, n]) => (
              <Tag.CheckableTag key={c} checked={code === c} onChange={(on) => setCode(on ? c : null)}>{`${c} (${formatNumber(n ?? 0)})`}</Tag.CheckableTag>
            ))}
          </Space>
          <Table<RecordError>
            rowKey={(e) => `${e.index}:${e.code}:${e.field ?? ''}`}
            dataSource={shown}
            size="small"
            pagination={{ pageSize: 50, hideOnSinglePage: true }}
            columns={[
              { title: t('datasets.line'), dataIndex: 'line', width: 90 },
              { title: t('datasets.field'), dataIndex: 'field', width: 200, render: (f?: string | null) => (f ? <Typography.Text code>{f}</Typography.Text> : null) },
              { title: t('datasets.code'), dataIndex: 'code', width: 180, render: (c: string) => <Tag color="red">{c}</Tag> },
              { title: t('datasets.message'), dataIndex: 'message' },
            ]}
          />
        </>
      )}
    </Space>
  );
}

export function Dataset() {
  const { t } = useTranslation();
  const { datasetId = '' } = useParams();
  const [chosen, setChosen] = useState<number | null>(null);
  const [cleaning, setCleaning] = useState<number | null>(null);
  const mayClean = useCan('upload_dataset');
  const dataset = useQuery({
    queryKey: ['datasets', datasetId],
    queryFn: async () => unwrap(await api.GET('/api/v1/datasets/{dataset_id}', { params: { path: { dataset_id: datasetId } } })),
  });
  const versions = useQuery({
    queryKey: ['datasets', datasetId, 'versions'],
    queryFn: async () => unwrap(await api.GET('/api/v1/datasets/{dataset_id}/versions', { params: { path: { dataset_id: datasetId } } })),
  });
  if (dataset.isPending || versions.isPending) return <Skeleton active />;
  if (dataset.error || versions.error) return <ErrorNotice error={dataset.error ?? versions.error} onRetry={() => void dataset.refetch()} />;
  const list = [...versions.data.data].sort((a, b) => b.version - a.version);
  const version = chosen ?? list[0]?.version ?? null;
  const current = list.find((v) => v.version === version);
  const parent = current?.parent_version_id ? list.find((v) => v.id === current.parent_version_id) : undefined;
  return (
    <>
      <Typography.Title level={1} style={{ fontSize: 24 }}>{dataset.data.name}</Typography.Title>
      {version === null ? (
        <Empty />
      ) : (
        <Space direction="vertical" size="large" style={{ width: '100%' }}>
          <Space>
            <Typography.Text strong>{t('datasets.versions')}</Typography.Text>
            <Segmented<number>
              aria-label={t('datasets.versions')}
              value={version}
              options={list.map((v) => ({ value: v.version, label: t('datasets.version', { version: v.version }) }))}
              onChange={setChosen}
            />
            {parent && <Typography.Text type="secondary">{t('datasets.madeFrom', { version: parent.version })}</Typography.Text>}
          </Space>
          <Card title={t('datasets.validation')} extra={mayClean && <Button onClick={() => setCleaning(version)}>{t('clean.button')}</Button>}>
            <Validation datasetId={datasetId} version={version} />
          </Card>
          <Card title={t('datasets.statistics')}>
            <Statistics datasetId={datasetId} version={version} />
          </Card>
          <Card title={t('history.title')}>
            <History datasetId={datasetId} version={version} versions={list} />
          </Card>
          <Card title={t('datasets.recordsTitle')}>
            <Records datasetId={datasetId} version={version} total={current?.records ?? 0} />
          </Card>
          <Card title={t('annotation.title')}>
            <AnnotationTasks datasetId={datasetId} projectId={dataset.data.project_id} version={version} />
          </Card>
          <CleanDrawer datasetId={datasetId} version={cleaning ?? version} open={cleaning !== null} onClose={() => setCleaning(null)} onMade={() => setChosen(null)} />
        </Space>
      )}
    </>
  );
}
