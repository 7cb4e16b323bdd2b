// Annotating: one record at a time, of one's own share or of all, with the task's instructions;
// labels from the task's set, a flag, a note and the record corrected (RecordEditor); saved
// with Ctrl+Enter or the button, which moves on. Each annotator's progress is beside it; those
// who may add versions to the dataset make the new version from it (flagged records and label
// filters chosen) and land on the dataset.
import { FlagOutlined } from '@ant-design/icons';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { Alert, Button, Card, Checkbox, Col, Descriptions, Empty, Form, Input, Modal, Progress, Row, Segmented, Select, Skeleton, Space, Switch, Tag, Typography } from 'antd';
import { useEffect, useState } from 'react';
import { useTranslation } from 'react-i18next';
import { useNavigate, useParams } from 'react-router';
import { api, unwrap, type Schemas } from '../api/client';
import { annotationInput, changed, draftOf, type Draft } from '../annotation/draft';
import { RecordEditor } from '../annotation/RecordEditor';
import { ErrorNotice } from '../app/ErrorNotice';
import { PageHeader } from '../app/PageHeader';
import { useCan, useMe } from '../app/useMe';
import { formatNumber } from '../i18n/format';

type Task = Schemas['AnnotationTask'];

function CompleteModal({ task, open, onClose }: { task: Task; open: boolean; onClose: () => void }) {
  const { t } = useTranslation();
  const navigate = useNavigate();
  const queryClient = useQueryClient();
  const [form] = Form.useForm<{ keep_flagged: boolean; keep_labels: string[]; drop_labels: string[] }>();
  const complete = useMutation({
    mutationFn: async (body: Schemas['CompleteAnnotation']) =>
      unwrap(await api.POST('/api/v1/annotation-tasks/{task_id}/complete', { params: { path: { task_id: task.id } }, body })),
    onSuccess: async () => {
      await queryClient.invalidateQueries({ queryKey: ['datasets', task.dataset_id] });
      await queryClient.invalidateQueries({ queryKey: ['annotation-tasks', task.dataset_id] });
      navigate(`/datasets/${task.dataset_id}`);
    },
  });
  const labels = task.labels.map((l) => ({ value: l, label: l }));
  return (
    <Modal open={open} title={t('annotation.completeTitle')} okText={t('annotation.complete')} cancelText={t('annotation.cancel')} confirmLoading={complete.isPending} onOk={() => form.submit()} onCancel={onClose} destroyOnHidden>
      <Typography.Paragraph>{t('annotation.completeIntro', { annotated: formatNumber(task.annotated), edited: formatNumber(task.edited), flagged: formatNumber(task.flagged) })}</Typography.Paragraph>
      <Form form={form} layout="vertical" initialValues={{ keep_flagged: false, keep_labels: [], drop_labels: [] }} onFinish={(v) => complete.mutate(v)}>
        <Form.Item name="keep_flagged" label={t('annotation.keepFlagged')} valuePropName="checked"><Switch /></Form.Item>
        <Form.Item name="keep_labels" label={t('annotation.keepLabels')} extra={t('annotation.keepLabelsHelp')}><Select mode="multiple" options={labels} /></Form.Item>
        <Form.Item name="drop_labels" label={t('annotation.dropLabels')}><Select mode="multiple" options={labels} /></Form.Item>
      </Form>
      {complete.error && <ErrorNotice error={complete.error} />}
    </Modal>
  );
}

export function AnnotationTask() {
  const { t } = useTranslation();
  const { taskId = '' } = useParams();
  const queryClient = useQueryClient();
  const me = useMe();
  const mayComplete = useCan('upload_dataset');
  const [scope, setScope] = useState<'mine' | 'all'>('mine');
  const [position, setPosition] = useState(0);
  const [draft, setDraft] = useState<Draft | null>(null);
  const [completing, setCompleting] = useState(false);
  const task = useQuery({
    queryKey: ['annotation-task', taskId],
    queryFn: async () => unwrap(await api.GET('/api/v1/annotation-tasks/{task_id}', { params: { path: { task_id: taskId } } })),
  });
  const myId = me.data?.user.id;
  const mine = task.data?.annotators.find((a) => a.user_id === myId);
  const own = scope === 'mine' && Boolean(mine);
  const total = own ? (mine?.assigned ?? 0) : (task.data?.records ?? 0);
  const current = useQuery({
    queryKey: ['annotation-task', taskId, 'record', own ? myId : null, position],
    enabled: Boolean(task.data) && total > 0,
    queryFn: async () =>
      unwrap(
        await api.GET('/api/v1/annotation-tasks/{task_id}/records', {
          params: { path: { task_id: taskId }, query: { offset: position, limit: 1, ...(own && myId ? { assignee: myId } : {}) } },
        }),
      ).data[0] ?? null,
  });
  const record = current.data ?? null;
  useEffect(() => setDraft(record ? draftOf(record) : null), [record]);
  const save = useMutation({
    mutationFn: async ({ r, d }: { r: Schemas['AnnotatedRecord']; d: Draft }) =>
      unwrap(await api.PUT('/api/v1/annotation-tasks/{task_id}/records/{index}', { params: { path: { task_id: taskId, index: r.index } }, body: annotationInput(d, r) })),
    onSuccess: async () => {
      await queryClient.invalidateQueries({ queryKey: ['annotation-task', taskId] });
      setPosition((p) => Math.min(p + 1, Math.max(total - 1, 0)));
    },
  });
  const open = task.data?.state === 'open';
  const send = () => record && draft && open && !save.isPending && save.mutate({ r: record, d: draft });
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) {
        e.preventDefault();
        send();
      }
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  });
  if (task.isPending) return <Skeleton active />;
  if (task.error) return <ErrorNotice error={task.error} onRetry={() => void task.refetch()} />;
  const x = task.data;
  return (
    <Space direction="vertical" size="large" style={{ width: '100%' }}>
      <PageHeader
        back={{ to: `/datasets/${x.dataset_id}`, label: t('annotation.back') }}
        title={x.name}
        actions={mayComplete && open && <Button type="primary" onClick={() => setCompleting(true)}>{t('annotation.completeButton')}</Button>}
      />
      {!open && <Alert type="success" showIcon title={t('annotation.completedAlert', { version: x.result_version ?? '–' })} />}
      <Row gutter={24}>
        <Col xs={24} lg={16}>
          <Card
            title={record ? t('annotation.recordTitle', { index: formatNumber(record.index + 1), line: formatNumber(record.line) }) : t('annotation.records')}
            extra={
              mine && (
                <Segmented
                  aria-label={t('annotation.scope')}
                  value={scope}
                  onChange={(v) => {
                    setScope(v as 'mine' | 'all');
                    setPosition(0);
                  }}
                  options={[
                    { value: 'mine', label: t('annotation.mine') },
                    { value: 'all', label: t('annotation.all') },
                  ]}
                />
              )
            }
            loading={current.isPending && total > 0}
          >
            {total === 0 ? (
              <Empty description={t('annotation.nothing')} />
            ) : current.error ? (
              <ErrorNotice error={current.error} onRetry={() => void current.refetch()} />
            ) : record && draft ? (
              <Space direction="vertical" style={{ width: '100%' }}>
                {x.instructions && <Alert type="info" title={x.instructions} />}
                {record.errors.length > 0 || !draft.record ? (
                  <Alert type="error" showIcon title={t('annotation.invalid')} description={record.errors.join('; ')} />
                ) : (
                  <RecordEditor record={draft.record} onChange={(r) => setDraft({ ...draft, record: r })} />
                )}
                {record.errors.length === 0 && (
                  <>
                    <Space wrap aria-label={t('annotation.labels')}>
                      {x.labels.map((l) => (
                        <Tag.CheckableTag
                          key={l}
                          checked={draft.labels.includes(l)}
                          onChange={(on) => setDraft({ ...draft, labels: on ? [...draft.labels, l] : draft.labels.filter((k) => k !== l) })}
                        >
                          {l}
                        </Tag.CheckableTag>
                      ))}
                    </Space>
                    <Checkbox checked={draft.flagged} onChange={(e) => setDraft({ ...draft, flagged: e.target.checked })}>
                      <FlagOutlined /> {t('annotation.flag')}
                    </Checkbox>
                    <Input.TextArea aria-label={t('annotation.note')} placeholder={t('annotation.note')} autoSize={{ minRows: 1, maxRows: 4 }} value={draft.note} onChange={(e) => setDraft({ ...draft, note: e.target.value })} />
                  </>
                )}
                {record.annotation && (
                  <Typography.Text type="secondary">{record.annotation.edited ? t('annotation.savedEdited') : t('annotation.saved')}</Typography.Text>
                )}
                {save.error && <ErrorNotice error={save.error} />}
                <Space wrap>
                  <Button disabled={position === 0} onClick={() => setPosition(position - 1)}>{t('annotation.previous')}</Button>
                  {open && record.errors.length === 0 && (
                    <Button type="primary" loading={save.isPending} onClick={send} title="Ctrl+Enter">
                      {changed(draft, record) || !record.annotation ? t('annotation.saveNext') : t('annotation.keepNext')}
                    </Button>
                  )}
                  <Button disabled={position >= total - 1} onClick={() => setPosition(position + 1)}>{t('annotation.next')}</Button>
                  <Typography.Text type="secondary">{t('annotation.positionOf', { position: formatNumber(position + 1), total: formatNumber(total) })}</Typography.Text>
                </Space>
              </Space>
            ) : null}
          </Card>
        </Col>
        <Col xs={24} lg={8}>
          <Card title={t('annotation.progress')}>
            <Descriptions column={1} size="small">
              <Descriptions.Item label={t('annotation.annotatedAll')}>{t('annotation.doneOf', { done: formatNumber(x.annotated), total: formatNumber(x.records) })}</Descriptions.Item>
              <Descriptions.Item label={t('annotation.flaggedAll')}>{formatNumber(x.flagged)}</Descriptions.Item>
              <Descriptions.Item label={t('annotation.editedAll')}>{formatNumber(x.edited)}</Descriptions.Item>
              {Object.entries(x.label_counts).map(([l, n]) => (
                <Descriptions.Item key={l} label={l}>{formatNumber(n)}</Descriptions.Item>
              ))}
            </Descriptions>
            {x.annotators.map((a) => (
              <div key={a.user_id}>
                <Typography.Text>{a.user_id === myId ? t('annotation.you', { name: a.name }) : a.name}</Typography.Text>
                <Progress percent={Math.floor((100 * a.done) / Math.max(a.assigned, 1))} format={() => `${a.done}/${a.assigned}`} aria-label={t('annotation.progressOf', { name: a.name })} />
              </div>
            ))}
          </Card>
        </Col>
      </Row>
      <CompleteModal task={x} open={completing} onClose={() => setCompleting(false)} />
    </Space>
  );
}
