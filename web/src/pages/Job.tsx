// The training monitor: state, progress and the queue's reason while waiting; live curves
// (server-downsampled metrics, refreshed as the job's events stream in); the events as they
// come; cancel.
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { Alert, Button, Card, Col, Flex, List, Popconfirm, Progress, Row, Skeleton, Space, Typography } from 'antd';
import { useEffect, useState } from 'react';
import { useTranslation } from 'react-i18next';
import { useParams } from 'react-router';
import { api, unwrap } from '../api/client';
import { ErrorNotice } from '../app/ErrorNotice';
import { useCan } from '../app/useMe';
import { formatBytes, formatDateTime, formatNumber } from '../i18n/format';
import { followJobEvents, type JobEvent } from '../training/events';
import { isFinal, JobStateTag } from '../training/JobStateTag';
import { MetricChart } from '../training/MetricChart';

const SHOWN_EVENTS = 200;

const num = (v: unknown, digits = 4) => formatNumber(Number(v), { maximumFractionDigits: digits });

/** One line per event: the figures that matter, not the raw record. */
function describe(e: JobEvent): string {
  const d = e.data;
  switch (e.kind) {
    case 'progress':
      return `loss ${num(d.loss)} · lr ${num(d.learning_rate, 8)} · ${num(d.tokens_per_second, 1)} tokens/s`;
    case 'eval':
      return `eval_loss ${num(d.eval_loss)}`;
    case 'state':
      return String(d.state ?? '');
    case 'log':
      return String(d.message ?? d.line ?? '');
    case 'system':
      return `CPU ${num(d.cpu_percent, 1)}% · RSS ${formatBytes(Number(d.rss_bytes ?? 0))}`;
    case 'checkpoint':
      return String(d.path ?? '');
    case 'artifact':
      return `${String(d.kind ?? '')} ${String(d.path ?? '')}`;
    case 'started':
      return `${String(d.device ?? '')} ${String(d.dtype ?? '')} ${String(d.attention ?? '')}`;
    case 'finished': {
      const summary = (d.summary ?? {}) as Record<string, unknown>;
      return `${String(d.status ?? '')} · final loss ${num(summary.final_loss)} · ${num(summary.seconds, 1)} s`;
    }
    default:
      return JSON.stringify(d).slice(0, 200);
  }
}

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
    queryFn: async () => unwrap(await api.GET('/api/v1/jobs/{job_id}/metrics', { params: { path: { job_id: jobId }, query: { points: 500 } } })),
  });
  const cancel = useMutation({
    mutationFn: async () => unwrap(await api.POST('/api/v1/jobs/{job_id}/cancel', { params: { path: { job_id: jobId } } })),
    onSuccess: () => queryClient.invalidateQueries({ queryKey: ['jobs', jobId] }),
  });

  // The event stream drives the page: new events refresh the job and its curves (at most
  // once a second), and the stream ends with the job.
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
        setEvents((all) => [e, ...all].slice(0, SHOWN_EVENTS));
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
  }, [jobId, queryClient]);

  if (job.isPending) return <Skeleton active />;
  if (job.error) return <ErrorNotice error={job.error} onRetry={() => void job.refetch()} />;
  const j = job.data;
  const series = metrics.data?.series ?? [];
  const pick = (...names: string[]) => series.filter((s) => names.includes(s.name));
  const canCancel = !isFinal(j.state) && j.state !== 'cancelling' && mayTrain;
  const queue = j.queue as { reason?: string } | null | undefined;
  const error = j.error as { message?: string } | null | undefined;
  return (
    <Space direction="vertical" size="large" style={{ width: '100%' }}>
      <Flex justify="space-between" align="center" wrap>
        <Space align="center">
          <Typography.Title level={1} style={{ fontSize: 24, margin: 0 }}>{j.name}</Typography.Title>
          <JobStateTag state={j.state} />
        </Space>
        {canCancel && (
          <Popconfirm title={t('jobs.cancelConfirm')} onConfirm={() => cancel.mutate()} okText={t('jobs.cancel')}>
            <Button danger loading={cancel.isPending}>{t('jobs.cancel')}</Button>
          </Popconfirm>
        )}
      </Flex>
      {queue?.reason && <Alert type="info" showIcon title={t('jobs.queuedBecause', { reason: queue.reason })} />}
      {error?.message && <Alert type="error" showIcon title={t('jobs.failed', { message: error.message })} />}
      {j.model_id && <Alert type="success" showIcon title={t('jobs.model', { id: j.model_id })} />}
      {cancel.error && <ErrorNotice error={cancel.error} />}
      <Card>
        <Typography.Text>{j.total_steps ? t('jobs.step', { step: j.current_step, total: j.total_steps }) : t('jobs.stepUnknown', { step: j.current_step })}</Typography.Text>
        <Progress aria-label={t('jobs.progress')} percent={j.total_steps ? Math.floor((100 * j.current_step) / j.total_steps) : 0} status={j.state === 'failed' ? 'exception' : isFinal(j.state) ? 'normal' : 'active'} />
      </Card>
      <Card title={t('jobs.charts')}>
        {series.every((s) => s.points.length === 0) ? (
          <Typography.Text type="secondary">{t('jobs.noPoints')}</Typography.Text>
        ) : (
          <Row gutter={[16, 16]}>
            <Col xs={24} xl={12}><MetricChart label={t('jobs.lossChart')} series={pick('loss', 'eval_loss')} /></Col>
            <Col xs={24} xl={12}><MetricChart label={t('jobs.speedChart')} series={pick('tokens_per_second')} /></Col>
            <Col xs={24} xl={12}><MetricChart label={t('jobs.lrChart')} series={pick('learning_rate')} /></Col>
          </Row>
        )}
      </Card>
      <Card title={t('jobs.log')}>
        <List
          size="small"
          dataSource={events}
          renderItem={(e) => (
            <List.Item>
              <Space>
                <Typography.Text type="secondary">{formatDateTime(e.time_ms)}</Typography.Text>
                <Typography.Text code>{e.kind}</Typography.Text>
                <Typography.Text>{describe(e)}</Typography.Text>
              </Space>
            </List.Item>
          )}
        />
      </Card>
    </Space>
  );
}
