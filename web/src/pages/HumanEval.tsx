// One human evaluation: what is rated and how, by whom; the caller's own progress and the way in
// to rate (for raters, while open); the results (once closed, or to those who may deploy models
// while open — raters are not swayed by them); close, reopen, export of pairwise preferences as
// a DPO dataset, and deletion, for those who may deploy models.
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { Alert, Badge, Button, Card, Descriptions, Form, Input, Popconfirm, Skeleton, Space, Typography } from 'antd';
import { useState } from 'react';
import { useTranslation } from 'react-i18next';
import { Link, useNavigate, useParams } from 'react-router';
import { api, ApiFailure, unwrap } from '../api/client';
import { ErrorNotice } from '../app/ErrorNotice';
import { PageHeader } from '../app/PageHeader';
import { useCan } from '../app/useMe';
import { HumanEvalResultsView } from '../humaneval/Results';
import { formatNumber, formatUnixTime } from '../i18n/format';

function ExportPreferences({ id }: { id: string }) {
  const { t } = useTranslation();
  const [done, setDone] = useState<{ id: string; name: string } | null>(null);
  const exp = useMutation({
    mutationFn: async (name: string) => unwrap(await api.POST('/api/v1/human-evals/{human_eval_id}/export', { params: { path: { human_eval_id: id } }, body: { name } })),
    onSuccess: (d) => setDone({ id: d.dataset.id, name: d.dataset.name }),
  });
  return (
    <Card title={t('humanEvals.exportTitle')}>
      <Typography.Paragraph type="secondary">{t('humanEvals.exportHelp')}</Typography.Paragraph>
      <Form layout="inline" onFinish={(v: { name: string }) => exp.mutate(v.name.trim())}>
        <Form.Item name="name" label={t('humanEvals.exportName')} rules={[{ required: true, whitespace: true, message: t('humanEvals.nameRequired') }]}>
          <Input style={{ width: 260 }} />
        </Form.Item>
        <Button htmlType="submit" loading={exp.isPending}>{t('humanEvals.export')}</Button>
      </Form>
      {exp.error && <div style={{ marginTop: 12 }}><ErrorNotice error={exp.error} /></div>}
      {done && <Alert style={{ marginTop: 12 }} type="success" showIcon title={<Link to={`/datasets/${done.id}`}>{t('humanEvals.exported', { name: done.name })}</Link>} />}
    </Card>
  );
}

export function HumanEval() {
  const { t } = useTranslation();
  const { humanEvalId = '' } = useParams();
  const navigate = useNavigate();
  const queryClient = useQueryClient();
  const mayManage = useCan('deploy_model');
  const task = useQuery({
    queryKey: ['human-evals', humanEvalId],
    queryFn: async () => unwrap(await api.GET('/api/v1/human-evals/{human_eval_id}', { params: { path: { human_eval_id: humanEvalId } } })),
  });
  const open = task.data?.state === 'open';
  // Whether the caller rates this task: /next answers raters only (403 for the others).
  const mine = useQuery({
    queryKey: ['human-evals', humanEvalId, 'next'],
    enabled: open,
    retry: false,
    queryFn: async () => unwrap(await api.GET('/api/v1/human-evals/{human_eval_id}/next', { params: { path: { human_eval_id: humanEvalId } } })),
  });
  const results = useQuery({
    queryKey: ['human-evals', humanEvalId, 'results'],
    enabled: task.data !== undefined && (!open || mayManage),
    retry: false,
    queryFn: async () => unwrap(await api.GET('/api/v1/human-evals/{human_eval_id}/results', { params: { path: { human_eval_id: humanEvalId } } })),
  });
  const setOpen = useMutation({
    mutationFn: async (reopen: boolean) =>
      reopen
        ? unwrap(await api.POST('/api/v1/human-evals/{human_eval_id}/reopen', { params: { path: { human_eval_id: humanEvalId } } }))
        : unwrap(await api.POST('/api/v1/human-evals/{human_eval_id}/close', { params: { path: { human_eval_id: humanEvalId } } })),
    onSuccess: async (h) => {
      queryClient.setQueryData(['human-evals', humanEvalId], h);
      await queryClient.invalidateQueries({ queryKey: ['human-evals'] });
    },
  });
  const remove = useMutation({
    mutationFn: async () => unwrap(await api.DELETE('/api/v1/human-evals/{human_eval_id}', { params: { path: { human_eval_id: humanEvalId } } })),
    onSuccess: async () => {
      await queryClient.invalidateQueries({ queryKey: ['human-evals'] });
      navigate('/human-evals');
    },
  });
  if (task.isPending) return <Skeleton active />;
  if (task.error) return <ErrorNotice error={task.error} onRetry={() => void task.refetch()} />;
  const h = task.data;
  const notRater = mine.error instanceof ApiFailure && mine.error.status === 403;
  const progress = mine.data?.progress;
  return (
    <Space direction="vertical" size="large" style={{ width: '100%' }}>
      <PageHeader
        back={{ to: '/human-evals', label: t('humanEvals.back') }}
        title={h.name}
        state={<Badge status={open ? 'processing' : 'default'} text={t(`humanEvals.states.${h.state}`, { defaultValue: h.state })} />}
        actions={
          mayManage && (
            <Space>
              {open ? (
                <Popconfirm title={t('humanEvals.closeConfirm')} onConfirm={() => setOpen.mutate(false)}>
                  <Button loading={setOpen.isPending}>{t('humanEvals.close')}</Button>
                </Popconfirm>
              ) : (
                <Button onClick={() => setOpen.mutate(true)} loading={setOpen.isPending}>{t('humanEvals.reopen')}</Button>
              )}
              <Popconfirm title={t('humanEvals.deleteConfirm', { name: h.name })} onConfirm={() => remove.mutate()} okButtonProps={{ danger: true }}>
                <Button danger loading={remove.isPending}>{t('humanEvals.delete')}</Button>
              </Popconfirm>
            </Space>
          )
        }
      />
      {(setOpen.error ?? remove.error) && <ErrorNotice error={setOpen.error ?? remove.error} />}
      <Card>
        <Descriptions size="small" column={{ xs: 1, md: 2 }}>
          <Descriptions.Item label={t('humanEvals.mode')}>{t(`humanEvals.modes.${h.mode}`)}</Descriptions.Item>
          <Descriptions.Item label={t('humanEvals.items')}>{formatNumber(h.items)}</Descriptions.Item>
          <Descriptions.Item label={t('humanEvals.models')}>{formatNumber(h.evaluation_ids.length)}</Descriptions.Item>
          <Descriptions.Item label={t('humanEvals.raterRoles')}>{(h.raters.roles ?? []).map((r) => t(`roles.${r}`)).join(', ') || '—'}</Descriptions.Item>
          {h.mode === 'rubric' && (
            <Descriptions.Item label={t('humanEvals.criteriaLabel')} span={2}>
              {h.criteria.map((c) => `${t(`humanEvals.criteria.${c.name}`, { defaultValue: c.name })} (${c.min ?? 0}–${c.max ?? 5})`).join(', ')}
            </Descriptions.Item>
          )}
          <Descriptions.Item label={t('humanEvals.created')}>{formatUnixTime(h.created_at)}</Descriptions.Item>
          {h.closed_at && <Descriptions.Item label={t('humanEvals.closed')}>{formatUnixTime(h.closed_at)}</Descriptions.Item>}
        </Descriptions>
      </Card>
      {open && (
        <Card title={t('humanEvals.myRatings')}>
          {notRater ? (
            <Typography.Text type="secondary">{t('humanEvals.notRater')}</Typography.Text>
          ) : mine.error ? (
            <ErrorNotice error={mine.error} onRetry={() => void mine.refetch()} />
          ) : progress ? (
            <Space direction="vertical">
              <Typography.Text>{t('humanEvals.progress', { done: formatNumber(progress.rated + progress.skipped), items: formatNumber(progress.items), skipped: formatNumber(progress.skipped), flagged: formatNumber(progress.flagged) })}</Typography.Text>
              <Link to={`/human-evals/${h.id}/rate`}>
                <Button type="primary">{progress.remaining > 0 ? t('humanEvals.startRating') : t('humanEvals.reviewRatings')}</Button>
              </Link>
            </Space>
          ) : (
            <Skeleton active paragraph={{ rows: 1 }} />
          )}
        </Card>
      )}
      {results.data ? (
        <HumanEvalResultsView results={results.data} />
      ) : results.error ? (
        <ErrorNotice error={results.error} />
      ) : open && !mayManage ? (
        <Alert type="info" showIcon title={t('humanEvals.resultsWhenClosed')} />
      ) : null}
      {h.mode === 'pairwise' && mayManage && <ExportPreferences id={h.id} />}
    </Space>
  );
}
