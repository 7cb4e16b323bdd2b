// A fine-tuned model's experiment record: what it is, the job that trained it with its
// configuration and final metrics, the data it was trained and validated on (with the versions
// that data came from), its files (each downloadable by those who may deploy models), and every
// evaluation and human rating of it.
import { DownloadOutlined } from '@ant-design/icons';
import { useMutation, useQuery } from '@tanstack/react-query';
import { Button, Card, Col, Descriptions, Row, Skeleton, Space, Table, Tag, Typography } from 'antd';
import { useTranslation } from 'react-i18next';
import { Link, useParams } from 'react-router';
import { api, unwrap, type Schemas } from '../api/client';
import { ErrorNotice } from '../app/ErrorNotice';
import { useCan } from '../app/useMe';
import { EvaluationState } from '../evaluations/EvaluationState';
import { formatBytes, formatNumber, formatUnixTime } from '../i18n/format';
import { trainingFigures } from '../models/summary';
import { downloadModelFile, fileName } from '../models/transfer';
import { JobStateTag } from '../training/JobStateTag';

/** The part of an evaluation's `results` the record shows (the API documents it in words). */
type Results = { metrics?: Record<string, { score?: number | null }> };

function Data({ lineage, title }: { lineage: Schemas['LineageView']; title: string }) {
  const { t } = useTranslation();
  const v = lineage.version;
  return (
    <Card title={title} size="small">
      <Space direction="vertical" size={4}>
        <Link to={`/datasets/${v.dataset_id}`}>{t('models.versionOf', { version: v.version, file: v.filename })}</Link>
        <Typography.Text type="secondary">{t('models.records', { n: formatNumber(v.valid_records) })}</Typography.Text>
        {lineage.ancestors.length > 0 && (
          <Typography.Text type="secondary">{t('models.madeFrom', { versions: lineage.ancestors.map((a) => a.version).join(' ← ') })}</Typography.Text>
        )}
      </Space>
    </Card>
  );
}

export function Model() {
  const { t } = useTranslation();
  const { modelId = '' } = useParams();
  const record = useQuery({
    queryKey: ['models', modelId, 'record'],
    queryFn: async () => unwrap(await api.GET('/api/v1/models/{model_id}/record', { params: { path: { model_id: modelId } } })),
  });
  const mayDownload = useCan('deploy_model');
  const download = useMutation({ mutationFn: (f: Schemas['ModelFileView']) => downloadModelFile(modelId, f.path, f.size_bytes) });
  const files = useQuery({
    queryKey: ['models', modelId, 'files'],
    queryFn: async () => unwrap(await api.GET('/api/v1/models/{model_id}/files', { params: { path: { model_id: modelId } } })),
  });
  if (record.isPending) return <Skeleton active />;
  if (record.error) return <ErrorNotice error={record.error} onRetry={() => void record.refetch()} />;
  const { model, job, training_data, validation_data, evaluations, human_evals } = record.data;
  const summary = trainingFigures(model.metrics);
  return (
    <Space direction="vertical" size="large" style={{ width: '100%' }}>
      <Space align="center">
        <Typography.Title level={1} style={{ fontSize: 24, margin: 0 }}>{model.name}</Typography.Title>
        <Tag>{t(`models.kinds.${model.kind as 'adapter'}`, { defaultValue: model.kind })}</Tag>
      </Space>
      <Card title={t('models.record')}>
        <Descriptions
          size="small"
          column={{ xs: 1, md: 2 }}
          items={[
            { key: 'id', label: t('models.id'), children: <Typography.Text code copyable>{model.id}</Typography.Text> },
            { key: 'base', label: t('models.base'), children: model.base_model_id },
            { key: 'job', label: t('models.job'), children: job ? <Space><Link to={`/jobs/${job.id}`}>{job.name}</Link><JobStateTag state={job.state} /></Space> : '–' },
            { key: 'size', label: t('models.size'), children: formatBytes(model.size_bytes) },
            { key: 'created', label: t('models.created'), children: formatUnixTime(model.created_at) },
            ...summary.map(([k, v]) => ({ key: k, label: t(`models.summary.${k}`), children: v })),
          ]}
        />
      </Card>
      <Row gutter={16}>
        {training_data && <Col xs={24} md={12}><Data lineage={training_data} title={t('models.trainingData')} /></Col>}
        {validation_data && <Col xs={24} md={12}><Data lineage={validation_data} title={t('models.validationData')} /></Col>}
      </Row>
      <Card title={t('models.evaluations')}>
        <Table<Schemas['EvaluationView']>
          size="small"
          rowKey="id"
          pagination={false}
          dataSource={evaluations}
          locale={{ emptyText: t('models.noEvaluations') }}
          columns={[
            { title: t('models.name'), dataIndex: 'name', render: (n: string, e) => <Link to={`/evaluations/${e.id}`}>{n}</Link> },
            { title: t('models.status'), dataIndex: 'state', render: (s: string) => <EvaluationState state={s} /> },
            {
              title: t('models.scores'),
              key: 'scores',
              render: (_, e) =>
                Object.entries((e.results as Results | null)?.metrics ?? {})
                  .map(([k, m]) => `${k} ${typeof m.score === 'number' ? formatNumber(m.score, { maximumFractionDigits: 3 }) : '–'}`)
                  .join(' · ') || '–',
            },
            { title: t('models.created'), dataIndex: 'created_at', render: (s: number) => formatUnixTime(s) },
          ]}
        />
        {human_evals.length > 0 && (
          <Typography.Paragraph style={{ marginTop: 12, marginBottom: 0 }}>
            {t('models.humanEvals', { names: human_evals.map((h) => h.name).join(', ') })}
          </Typography.Paragraph>
        )}
      </Card>
      <Card title={t('models.files')}>
        {download.error && <div style={{ marginBottom: 16 }}><ErrorNotice error={download.error} /></div>}
        {files.error ? (
          <ErrorNotice error={files.error} />
        ) : (
          <Table<Schemas['ModelFileView']>
            size="small"
            rowKey="path"
            pagination={false}
            loading={files.isPending}
            dataSource={files.data?.data ?? []}
            columns={[
              { title: t('models.path'), dataIndex: 'path', render: (p: string) => <Typography.Text code>{p}</Typography.Text> },
              { title: t('models.size'), dataIndex: 'size_bytes', render: (b: number) => formatBytes(b) },
              { title: 'SHA-256', dataIndex: 'sha256', render: (h: string) => <Typography.Text code copyable={{ text: h }}>{h.slice(0, 16)}…</Typography.Text> },
              ...(mayDownload
                ? [
                    {
                      title: t('models.download'),
                      key: 'download',
                      render: (_: unknown, f: Schemas['ModelFileView']) => (
                        <Button
                          size="small"
                          icon={<DownloadOutlined />}
                          loading={download.isPending && download.variables?.path === f.path}
                          aria-label={t('models.downloadNamed', { name: fileName(f.path) })}
                          onClick={() => download.mutate(f)}
                        />
                      ),
                    },
                  ]
                : []),
            ]}
          />
        )}
      </Card>
      {job && (
        <Card title={t('models.config')}>
          <pre style={{ margin: 0, whiteSpace: 'pre-wrap' }}>{JSON.stringify(job.config, null, 2)}</pre>
        </Card>
      )}
    </Space>
  );
}
