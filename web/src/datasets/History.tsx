// A version's history: where it came from (each ancestor back to the upload, with the recipe
// or deployment that made it), what was made from it (versions, training jobs, models), and
// what changed record by record against another version (counts and examples of each side).
import { useQuery } from '@tanstack/react-query';
import type { TFunction } from 'i18next';
import { Col, Descriptions, List, Row, Select, Skeleton, Space, Statistic, Tag, Typography } from 'antd';
import { useState } from 'react';
import { useTranslation } from 'react-i18next';
import { Link } from 'react-router';
import { api, unwrap, type Schemas } from '../api/client';
import { ErrorNotice } from '../app/ErrorNotice';
import { formatNumber, formatUnixTime } from '../i18n/format';

type Version = Schemas['VersionView'];

/** How a version was made, in a few words: a recipe's steps, a deployment's logs, an upload. */
function origin(v: Version, t: TFunction): string {
  // A cleaned version records its recipe; an export of human preferences or an annotation its task.
  const lineage = v.recipe as
    | { recipe?: { steps?: { step?: string }[] }; human_eval_id?: string; annotation_task_id?: string; name?: string; edited?: number }
    | null
    | undefined;
  const steps = lineage?.recipe?.steps ?? [];
  if (steps.length) return t('history.byRecipe', { steps: steps.map((s) => s.step).join(' → ') });
  if (lineage?.human_eval_id) return t('history.fromRatings', { id: lineage.human_eval_id });
  if (lineage?.annotation_task_id) return t('history.fromAnnotation', { name: lineage.name ?? lineage.annotation_task_id, edited: lineage.edited ?? 0 });
  if (v.source_deployment_id) return t('history.fromLogs', { deployment: v.source_deployment_id });
  if (v.parent_version_id) return t('history.derived');
  return t('history.uploaded', { filename: v.filename });
}

function Diff({ datasetId, version, versions }: { datasetId: string; version: number; versions: Version[] }) {
  const { t } = useTranslation();
  const others = versions.filter((v) => v.version !== version);
  const [against, setAgainst] = useState<number | null>(null);
  const chosen = against ?? others.find((v) => v.version < version)?.version ?? others[0]?.version ?? null;
  const diff = useQuery({
    queryKey: ['datasets', datasetId, 'versions', version, 'diff', chosen],
    enabled: chosen !== null,
    queryFn: async () =>
      unwrap(await api.GET('/api/v1/datasets/{dataset_id}/versions/{version}/diff', { params: { path: { dataset_id: datasetId, version }, query: { against: chosen ?? undefined } } })),
  });
  if (chosen === null) return <Typography.Text type="secondary">{t('history.onlyVersion')}</Typography.Text>;
  const examples = (items: Schemas['DiffExample'][], kind: 'added' | 'removed') => (
    <List
      size="small"
      header={<Typography.Text strong>{t(`history.${kind}Examples`)}</Typography.Text>}
      dataSource={items}
      locale={{ emptyText: t('history.none') }}
      renderItem={(e) => (
        <List.Item>
          <Space direction="vertical" size={0} style={{ width: '100%' }}>
            <Typography.Text type="secondary">{t('history.line', { line: formatNumber(e.line) })}</Typography.Text>
            <pre className={`record-text diff-${kind}`}>{e.excerpt}</pre>
          </Space>
        </List.Item>
      )}
    />
  );
  return (
    <Space direction="vertical" style={{ width: '100%' }}>
      <Space>
        <Typography.Text>{t('history.compareWith')}</Typography.Text>
        <Select<number>
          aria-label={t('history.compareWith')}
          value={chosen}
          style={{ width: 160 }}
          onChange={setAgainst}
          options={others.map((v) => ({ value: v.version, label: t('datasets.version', { version: v.version }) }))}
        />
      </Space>
      {diff.error ? (
        <ErrorNotice error={diff.error} onRetry={() => void diff.refetch()} />
      ) : !diff.data ? (
        <Skeleton active paragraph={{ rows: 2 }} />
      ) : (
        <>
          <Row gutter={16}>
            <Col span={8}><Statistic title={t('history.added', { from: diff.data.from_version, to: diff.data.to_version })} value={diff.data.added} /></Col>
            <Col span={8}><Statistic title={t('history.removed')} value={diff.data.removed} /></Col>
            <Col span={8}><Statistic title={t('history.unchanged')} value={diff.data.unchanged} /></Col>
          </Row>
          <Row gutter={16}>
            <Col xs={24} lg={12}>{examples(diff.data.added_examples, 'added')}</Col>
            <Col xs={24} lg={12}>{examples(diff.data.removed_examples, 'removed')}</Col>
          </Row>
        </>
      )}
    </Space>
  );
}

export function History({ datasetId, version, versions }: { datasetId: string; version: number; versions: Version[] }) {
  const { t } = useTranslation();
  const lineage = useQuery({
    queryKey: ['datasets', datasetId, 'versions', version, 'lineage'],
    queryFn: async () => unwrap(await api.GET('/api/v1/datasets/{dataset_id}/versions/{version}/lineage', { params: { path: { dataset_id: datasetId, version } } })),
  });
  const label = (v: Version) => (v.dataset_id === datasetId ? t('datasets.version', { version: v.version }) : t('history.otherDataset', { version: v.version }));
  return (
    <Space direction="vertical" size="large" style={{ width: '100%' }}>
      {lineage.error ? (
        <ErrorNotice error={lineage.error} onRetry={() => void lineage.refetch()} />
      ) : !lineage.data ? (
        <Skeleton active paragraph={{ rows: 3 }} />
      ) : (
        <Descriptions size="small" column={1} bordered>
          <Descriptions.Item label={t('history.madeFrom')}>
            <Space direction="vertical" size={4} data-testid="lineage-ancestors">
              {[lineage.data.version, ...lineage.data.ancestors].map((v, i) => (
                <Typography.Text key={v.id}>
                  {i === 0 ? '' : '← '}
                  <Tag>{label(v)}</Tag>
                  {`${origin(v, t)} · ${formatNumber(v.valid_records)} ${t('history.records')} · ${formatUnixTime(v.created_at)}`}
                </Typography.Text>
              ))}
            </Space>
          </Descriptions.Item>
          <Descriptions.Item label={t('history.madeInto')}>
            {lineage.data.descendants.length === 0 ? t('history.none') : <Space wrap>{lineage.data.descendants.map((v) => <Tag key={v.id}>{label(v)}</Tag>)}</Space>}
          </Descriptions.Item>
          <Descriptions.Item label={t('history.trainedBy')}>
            {lineage.data.jobs.length === 0 ? t('history.none') : <Space wrap>{lineage.data.jobs.map((j) => <Link key={j.id} to={`/jobs/${j.id}`}>{j.name}</Link>)}</Space>}
          </Descriptions.Item>
          <Descriptions.Item label={t('history.models')}>
            {lineage.data.models.length === 0 ? t('history.none') : <Space wrap>{lineage.data.models.map((m) => <Link key={m.id} to={`/models/${m.id}`}>{m.name}</Link>)}</Space>}
          </Descriptions.Item>
        </Descriptions>
      )}
      <Diff datasetId={datasetId} version={version} versions={versions} />
    </Space>
  );
}
