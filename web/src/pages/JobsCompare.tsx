// Several runs overlaid: the loss, evaluation loss, speed and learning rate of two to ten jobs
// (`/jobs/compare?ids=a,b,…`, chosen on the fine-tuning list), one line per job.
import { useQueries } from '@tanstack/react-query';
import { Alert, Card, Col, Row, Skeleton, Space, Table } from 'antd';
import { useTranslation } from 'react-i18next';
import { Link, useSearchParams } from 'react-router';
import { api, unwrap, type Schemas } from '../api/client';
import { ErrorNotice } from '../app/ErrorNotice';
import { chosenIds, PageHeader } from '../app/PageHeader';
import { formatNumber } from '../i18n/format';
import { JobStateTag } from '../training/JobStateTag';
import { MetricChart } from '../training/MetricChart';
import { overlay, type JobMetrics } from '../training/overlay';

const NAMES = 'loss,eval_loss,tokens_per_second,learning_rate';

export function JobsCompare() {
  const { t } = useTranslation();
  const [params] = useSearchParams();
  const { ids, valid } = chosenIds(params);
  const answers = useQueries({
    queries: (valid ? ids : []).map((id) => ({
      queryKey: ['jobs', id, 'compare'],
      queryFn: async () => {
        const [job, metrics] = await Promise.all([
          api.GET('/api/v1/jobs/{job_id}', { params: { path: { job_id: id } } }).then(unwrap),
          api.GET('/api/v1/jobs/{job_id}/metrics', { params: { path: { job_id: id }, query: { names: NAMES, points: 500 } } }).then(unwrap),
        ]);
        return { job, series: metrics.series };
      },
    })),
  });
  const back = <Link to="/jobs">{t('monitor.compareBack')}</Link>;
  if (!valid) return <Space direction="vertical">{back}<Alert type="warning" showIcon title={t('monitor.compareTooFew')} /></Space>;
  const failed = answers.find((a) => a.error);
  if (failed) return <ErrorNotice error={failed.error} onRetry={() => answers.forEach((a) => void a.refetch())} />;
  if (answers.some((a) => a.isPending)) return <Skeleton active />;
  const loaded = answers.map((a) => a.data as { job: Schemas['JobView']; series: Schemas['MetricSeriesView'][] });
  const jobs: JobMetrics[] = loaded.map(({ job, series }) => ({ id: job.id, name: job.name, series }));
  const charts = [
    { key: 'loss', label: t('monitor.compareLoss') },
    { key: 'eval_loss', label: t('monitor.compareEvalLoss') },
    { key: 'tokens_per_second', label: t('monitor.compareSpeed') },
    { key: 'learning_rate', label: t('monitor.compareLr') },
  ].map((c) => ({ ...c, series: overlay(jobs, c.key) }));
  return (
    <Space direction="vertical" size="large" style={{ width: '100%' }}>
      <PageHeader back={{ to: '/jobs', label: t('monitor.compareBack') }} title={t('monitor.compareTitle', { count: jobs.length })} />
      <Table<Schemas['JobView']>
        rowKey="id"
        size="small"
        pagination={false}
        dataSource={loaded.map((l) => l.job)}
        columns={[
          { title: t('jobs.name'), dataIndex: 'name', render: (name: string, j) => <Link to={`/jobs/${j.id}`}>{name}</Link> },
          { title: t('jobs.state'), dataIndex: 'state', render: (s: string) => <JobStateTag state={s} /> },
          { title: t('monitor.step'), key: 'step', render: (_, j) => formatNumber(j.current_step) },
          { title: t('jobs.loss'), dataIndex: 'latest_loss', render: (l?: number | null) => (l == null ? '—' : formatNumber(l, { maximumFractionDigits: 4 })) },
          { title: t('monitor.measured.speed'), key: 'speed', render: (_, j) => (j.measured?.tokens_per_second == null ? '—' : formatNumber(j.measured.tokens_per_second, { maximumFractionDigits: 1 })) },
        ]}
      />
      <Card>
        <Row gutter={[16, 16]}>
          {charts.filter((c) => c.series.length > 0).map((c) => (
            <Col key={c.key} xs={24} xl={12}><MetricChart label={c.label} series={c.series} /></Col>
          ))}
        </Row>
      </Card>
    </Space>
  );
}
