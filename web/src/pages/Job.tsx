// The training monitor: state, progress, the queue's place and reason while waiting; live curves
// (server-downsampled metrics, refreshed as the job's events stream in) of loss, learning rate,
// gradient norm, speed, CPU and memory, and the GPUs' utilization, memory, temperature and power
// where it runs on GPUs; the estimate beside what the runs measured; checkpoints; the events
// with search, filter and follow; cancel, and resume of a failed or cancelled job.
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { Alert, Button, Card, Col, Flex, Popconfirm, Progress, Row, Skeleton, Space, Typography } from 'antd';
import { useEffect, useState } from 'react';
import { useTranslation } from 'react-i18next';
import { useParams } from 'react-router';
import { api, unwrap, type Schemas } from '../api/client';
import { ErrorNotice } from '../app/ErrorNotice';
import { useCan } from '../app/useMe';
import { formatNumber, formatUnixTime } from '../i18n/format';
import { Checkpoints, useResume } from '../training/Checkpoints';
import { EventLog } from '../training/EventLog';
import { followJobEvents, type JobEvent } from '../training/events';
import { isFinal, JobStateTag } from '../training/JobStateTag';
import { MeasuredCard } from '../training/MeasuredCard';
import { MetricChart } from '../training/MetricChart';

/** Events kept in the page for the log's search; the newest are kept. */
const KEPT_EVENTS = 5000;
const SERIES = [
  'loss', 'eval_loss', 'learning_rate', 'grad_norm', 'tokens_per_second', 'cpu_percent', 'rss_bytes',
  'gpu_utilization_percent', 'gpu_memory_used_bytes', 'gpu_temperature_c', 'gpu_power_w',
];
const GIB = 1024 ** 3;

type Series = Schemas['MetricSeriesView'];

/** A series in other units (bytes as GiB), renamed to say so. */
const scaled = (s: Series | undefined, factor: number, name: string): Series[] =>
  s ? [{ name, points: s.points.map((p) => ({ ...p, value: p.value / factor })) }] : [];

export function Job() {
  const { t } = useTranslation();
  const { jobId = '' } = useParams();
  const queryClient = useQueryClient();
  const mayTrain = useCan('train_model');
  const [events, setEvents] = useState<JobEvent[]>([]);
  const job = useQuery({
    queryKey: ['jobs', jobId],
    queryFn: async () => unwrap(await api.GET('/api/v1/jobs/{job_id}', { params: { path: { job_id: jobId } } })),
  });
  const metrics = useQuery({
    queryKey: ['jobs', jobId, 'metrics'],
    queryFn: async () => unwrap(await api.GET('/api/v1/jobs/{job_id}/metrics', { params: { path: { job_id: jobId }, query: { names: SERIES.join(','), points: 500 } } })),
  });
  const cancel = useMutation({
    mutationFn: async () => unwrap(await api.POST('/api/v1/jobs/{job_id}/cancel', { params: { path: { job_id: jobId } } })),
    onSuccess: () => queryClient.invalidateQueries({ queryKey: ['jobs', jobId] }),
  });
  // Each resume starts a new run whose events are followed from the start again.
  const [generation, setGeneration] = useState(0);
  const resumed = () => setGeneration((g) => g + 1);
  const resume = useResume(jobId, resumed);

  // The event stream drives the page: new events refresh the job, its curves and checkpoints
  // (at most once a second), and the stream ends with the job.
  useEffect(() => {
    const abort = new AbortController();
    let pending: ReturnType<typeof setTimeout> | null = null;
    const refresh = () => {
      pending ??= setTimeout(() => {
        pending = null;
        void queryClient.invalidateQueries({ queryKey: ['jobs', jobId] });
      }, 1000);
    };
    setEvents([]);
    followJobEvents(
      jobId,
      (e) => {
        setEvents((all) => [e, ...all].slice(0, KEPT_EVENTS));
        refresh();
      },
      abort.signal,
    )
      .then(refresh)
      .catch(() => undefined);
    return () => {
      abort.abort();
      if (pending) clearTimeout(pending);
    };
  }, [jobId, queryClient, generation]);

  if (job.isPending) return <Skeleton active />;
  if (job.error) return <ErrorNotice error={job.error} onRetry={() => void job.refetch()} />;
  const j = job.data;
  const series = metrics.data?.series ?? [];
  const named = (name: string) => series.find((s) => s.name === name && s.points.length > 0);
  const pick = (...names: string[]) => names.flatMap((n) => named(n) ?? []);
  const canCancel = !isFinal(j.state) && j.state !== 'cancelling' && mayTrain;
  const canResume = (j.state === 'failed' || j.state === 'cancelled') && mayTrain;
  // Training curves are drawn by step; the runtime's system reports (CPU, memory, GPUs) carry
  // no step, so they are drawn over time.
  const charts: { key: string; label: string; series: Series[]; x?: 'time' }[] = [
    { key: 'loss', label: t('jobs.lossChart'), series: pick('loss', 'eval_loss') },
    { key: 'speed', label: t('jobs.speedChart'), series: pick('tokens_per_second') },
    { key: 'lr', label: t('jobs.lrChart'), series: pick('learning_rate') },
    { key: 'grad', label: t('monitor.gradChart'), series: pick('grad_norm') },
    { key: 'cpu', label: t('monitor.cpuChart'), series: pick('cpu_percent'), x: 'time' as const },
    { key: 'memory', label: t('monitor.memoryChart'), series: scaled(named('rss_bytes'), GIB, 'rss_gib'), x: 'time' as const },
    { key: 'gpu-util', label: t('monitor.gpuUtilChart'), series: pick('gpu_utilization_percent'), x: 'time' as const },
    { key: 'gpu-memory', label: t('monitor.gpuMemoryChart'), series: scaled(named('gpu_memory_used_bytes'), GIB, 'gpu_memory_gib'), x: 'time' as const },
    { key: 'gpu-temperature', label: t('monitor.gpuTemperatureChart'), series: pick('gpu_temperature_c'), x: 'time' as const },
    { key: 'gpu-power', label: t('monitor.gpuPowerChart'), series: pick('gpu_power_w'), x: 'time' as const },
  ].filter((c) => c.series.length > 0);
  return (
    <Space direction="vertical" size="large" style={{ width: '100%' }}>
      <Flex justify="space-between" align="center" wrap>
        <Space align="center">
          <Typography.Title level={1} style={{ fontSize: 24, margin: 0 }}>{j.name}</Typography.Title>
          <JobStateTag state={j.state} />
        </Space>
        <Space>
          {canResume && (
            <Popconfirm title={t('monitor.resumeConfirm')} onConfirm={() => resume.mutate(undefined)} okText={t('monitor.resume')}>
              <Button type="primary" loading={resume.isPending}>{t('monitor.resume')}</Button>
            </Popconfirm>
          )}
          {canCancel && (
            <Popconfirm title={t('jobs.cancelConfirm')} onConfirm={() => cancel.mutate()} okText={t('jobs.cancel')}>
              <Button danger loading={cancel.isPending}>{t('jobs.cancel')}</Button>
            </Popconfirm>
          )}
        </Space>
      </Flex>
      {j.queue && (
        <Alert
          type="info"
          showIcon
          title={t('monitor.queuePlace', { position: formatNumber(j.queue.position), of: formatNumber(j.queue.of) })}
          description={
            j.queue.wait
              ? `${j.queue.wait.message}${j.queue.wait.expected_start ? ` ${t('monitor.expectedStart', { time: formatUnixTime(j.queue.wait.expected_start) })}` : ''}`
              : t('monitor.startsNext')
          }
        />
      )}
      {j.error && <Alert type="error" showIcon title={t('jobs.failed', { message: j.error.message })} description={j.error.hint ?? undefined} />}
      {j.model_id && <Alert type="success" showIcon title={t('jobs.model', { id: j.model_id })} />}
      {cancel.error && <ErrorNotice error={cancel.error} />}
      {resume.error && <ErrorNotice error={resume.error} />}
      <Card>
        <Typography.Text>{j.total_steps ? t('jobs.step', { step: j.current_step, total: j.total_steps }) : t('jobs.stepUnknown', { step: j.current_step })}</Typography.Text>
        <Progress aria-label={t('jobs.progress')} percent={j.total_steps ? Math.floor((100 * j.current_step) / j.total_steps) : 0} status={j.state === 'failed' ? 'exception' : isFinal(j.state) ? 'normal' : 'active'} />
      </Card>
      <Card title={t('jobs.charts')}>
        {metrics.error ? (
          <ErrorNotice error={metrics.error} onRetry={() => void metrics.refetch()} />
        ) : charts.length === 0 ? (
          <Typography.Text type="secondary">{t('jobs.noPoints')}</Typography.Text>
        ) : (
          <Row gutter={[16, 16]}>
            {charts.map((c) => (
              <Col key={c.key} xs={24} xl={12}><MetricChart label={c.label} series={c.series} x={c.x} /></Col>
            ))}
          </Row>
        )}
      </Card>
      <MeasuredCard job={j} />
      <Checkpoints jobId={j.id} mayResume={canResume} onResumed={resumed} />
      <EventLog events={events} />
    </Space>
  );
}
