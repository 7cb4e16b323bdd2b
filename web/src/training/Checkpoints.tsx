// A job's stored checkpoints (step, files, size, when); a failed or cancelled job continues
// from any of them (confirmed) for those who may train.
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { Button, Card, Popconfirm, Table } from 'antd';
import { useTranslation } from 'react-i18next';
import { api, unwrap, type Schemas } from '../api/client';
import { everyPage } from '../api/queries';
import { ErrorNotice } from '../app/ErrorNotice';
import { formatBytes, formatNumber, formatUnixTime } from '../i18n/format';

type Checkpoint = Schemas['CheckpointView'];

/** Resumes the job from a checkpoint (the latest when none is named); `onResumed` after. */
export function useResume(jobId: string, onResumed: () => void) {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: async (checkpointId?: string) =>
      unwrap(await api.POST('/api/v1/jobs/{job_id}/resume', { params: { path: { job_id: jobId } }, body: { checkpoint_id: checkpointId ?? null } })),
    onSuccess: async () => {
      onResumed();
      await queryClient.invalidateQueries({ queryKey: ['jobs', jobId] });
    },
  });
}

/** Refreshed with the job: the monitor invalidates `['jobs', id]`, which this key extends. */
export function Checkpoints({ jobId, mayResume, onResumed }: { jobId: string; mayResume: boolean; onResumed: () => void }) {
  const { t } = useTranslation();
  const resume = useResume(jobId, onResumed);
  const checkpoints = useQuery({
    queryKey: ['jobs', jobId, 'checkpoints'],
    queryFn: async () => everyPage(async (query) => unwrap(await api.GET('/api/v1/jobs/{job_id}/checkpoints', { params: { path: { job_id: jobId }, query } }))),
  });
  return (
    <Card title={t('monitor.checkpoints')}>
      {resume.error && <div style={{ marginBottom: 16 }}><ErrorNotice error={resume.error} /></div>}
      {checkpoints.error ? (
        <ErrorNotice error={checkpoints.error} onRetry={() => void checkpoints.refetch()} />
      ) : (
        <Table<Checkpoint>
          rowKey="id"
          size="small"
          pagination={false}
          loading={checkpoints.isPending}
          dataSource={checkpoints.data?.data ?? []}
          locale={{ emptyText: t('monitor.noCheckpoints') }}
          columns={[
            { title: t('monitor.step'), dataIndex: 'step', render: (s: number) => formatNumber(s) },
            { title: t('monitor.files'), dataIndex: 'files', render: (n: number) => formatNumber(n) },
            { title: t('monitor.size'), dataIndex: 'size_bytes', render: (b: number) => formatBytes(b) },
            { title: t('monitor.saved'), dataIndex: 'created_at', render: (s: number) => formatUnixTime(s) },
            ...(mayResume
              ? [
                  {
                    title: t('monitor.actions'),
                    key: 'resume',
                    render: (_: unknown, c: Checkpoint) => (
                      <Popconfirm title={t('monitor.resumeFromConfirm', { step: c.step })} onConfirm={() => resume.mutate(c.id)}>
                        <Button size="small" loading={resume.isPending && resume.variables === c.id}>{t('monitor.resumeFrom', { step: c.step })}</Button>
                      </Popconfirm>
                    ),
                  },
                ]
              : []),
          ]}
        />
      )}
    </Card>
  );
}
