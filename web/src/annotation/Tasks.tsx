// A dataset's annotation tasks with their progress (annotated of all, each annotator's share),
// opened to annotate; those who may add versions start one over the chosen version (name,
// instructions, the labels to choose from, the annotators) and delete one (confirmed).
import { DeleteOutlined, EditOutlined } from '@ant-design/icons';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { Button, Drawer, Form, Input, Popconfirm, Progress, Select, Space, Table, Tag, Typography } from 'antd';
import { useState } from 'react';
import { useTranslation } from 'react-i18next';
import { Link, useNavigate } from 'react-router';
import { api, unwrap, type Schemas } from '../api/client';
import { useUsers } from '../api/queries';
import { ErrorNotice } from '../app/ErrorNotice';
import { useCan, useMe } from '../app/useMe';
import { useRevalidateOnLanguageChange } from '../app/validation';
import { formatNumber } from '../i18n/format';

type Task = Schemas['AnnotationTask'];
type Fields = { name: string; instructions?: string; labels?: string[]; assignee_ids: string[] };

function NewTaskDrawer({
  datasetId,
  projectId,
  version,
  open,
  onClose,
}: {
  datasetId: string;
  projectId?: string | null;
  version: number;
  open: boolean;
  onClose: () => void;
}) {
  const { t } = useTranslation();
  const navigate = useNavigate();
  const queryClient = useQueryClient();
  const [form] = Form.useForm<Fields>();
  useRevalidateOnLanguageChange(form);
  const me = useMe();
  const mayListUsers = useCan('manage_users');
  const users = useUsers(open && mayListUsers);
  // Without the organization's user list, a project's members are who can be named (they see
  // its datasets); outside any project, only oneself.
  const members = useQuery({
    queryKey: ['projects', projectId, 'members'],
    enabled: open && !mayListUsers && Boolean(projectId),
    queryFn: async () => unwrap(await api.GET('/api/v1/projects/{project_id}/members', { params: { path: { project_id: projectId as string } } })),
  });
  const person = (id: string, name: string, email: string) => ({ value: id, label: `${name} <${email}>` });
  const people = mayListUsers
    ? (users.data?.data ?? []).filter((u) => !u.disabled).map((u) => person(u.id, u.name, u.email))
    : projectId
      ? (members.data?.data ?? []).map((m) => person(m.user_id, m.name, m.email))
      : me.data
        ? [person(me.data.user.id, me.data.user.name, me.data.user.email)]
        : [];
  const candidates = mayListUsers ? users : members;
  const create = useMutation({
    mutationFn: async (f: Fields) =>
      unwrap(
        await api.POST('/api/v1/datasets/{dataset_id}/versions/{version}/annotation-tasks', {
          params: { path: { dataset_id: datasetId, version } },
          body: { name: f.name.trim(), instructions: f.instructions?.trim() ?? '', labels: (f.labels ?? []).map((l) => l.trim()).filter(Boolean), assignee_ids: f.assignee_ids },
        }),
      ),
    onSuccess: async (task) => {
      await queryClient.invalidateQueries({ queryKey: ['annotation-tasks', datasetId] });
      navigate(`/annotation-tasks/${task.id}`);
    },
  });
  return (
    <Drawer title={t('annotation.create', { version })} open={open} onClose={onClose} size={520} destroyOnHidden>
      <Form<Fields>
        form={form}
        layout="vertical"
        requiredMark={false}
        initialValues={{ labels: ['correct', 'needs fixing'], assignee_ids: me.data ? [me.data.user.id] : [] }}
        onFinish={(f) => create.mutate(f)}
      >
        <Form.Item name="name" label={t('annotation.name')} rules={[{ required: true, whitespace: true, max: 100, message: t('annotation.nameRequired') }]}>
          <Input autoComplete="off" />
        </Form.Item>
        <Form.Item name="instructions" label={t('annotation.instructions')} extra={t('annotation.instructionsHelp')} rules={[{ max: 2000 }]}>
          <Input.TextArea rows={3} />
        </Form.Item>
        <Form.Item name="labels" label={t('annotation.labels')} extra={t('annotation.labelsHelp')}>
          <Select mode="tags" tokenSeparators={[',']} open={false} suffixIcon={null} />
        </Form.Item>
        <Form.Item
          name="assignee_ids"
          label={t('annotation.annotators')}
          extra={mayListUsers ? t('annotation.annotatorsHelp') : projectId ? t('annotation.annotatorsMembers') : t('annotation.annotatorsSelf')}
          rules={[{ required: true, type: 'array', min: 1, message: t('annotation.annotatorsRequired') }]}
        >
          <Select mode="multiple" loading={candidates.isLoading} options={people} optionFilterProp="label" />
        </Form.Item>
        {create.error && <div style={{ marginBottom: 16 }}><ErrorNotice error={create.error} /></div>}
        <Button type="primary" htmlType="submit" loading={create.isPending} block>{t('annotation.start')}</Button>
      </Form>
    </Drawer>
  );
}

/** `projectId`: the dataset's project, whose members may be named as annotators by those who
 * cannot list the organization's users. */
export function AnnotationTasks({ datasetId, projectId, version }: { datasetId: string; projectId?: string | null; version: number }) {
  const { t } = useTranslation();
  const queryClient = useQueryClient();
  const mayStart = useCan('upload_dataset');
  const [creating, setCreating] = useState(false);
  const tasks = useQuery({
    queryKey: ['annotation-tasks', datasetId],
    queryFn: async () => unwrap(await api.GET('/api/v1/datasets/{dataset_id}/annotation-tasks', { params: { path: { dataset_id: datasetId } } })),
  });
  const remove = useMutation({
    mutationFn: async (id: string) => unwrap(await api.DELETE('/api/v1/annotation-tasks/{task_id}', { params: { path: { task_id: id } } })),
    onSettled: () => queryClient.invalidateQueries({ queryKey: ['annotation-tasks', datasetId] }),
  });
  return (
    <>
      <Space direction="vertical" style={{ width: '100%' }}>
        <Space wrap style={{ justifyContent: 'space-between', width: '100%' }}>
          <Typography.Text type="secondary">{t('annotation.intro')}</Typography.Text>
          {mayStart && <Button icon={<EditOutlined />} onClick={() => setCreating(true)}>{t('annotation.createButton', { version })}</Button>}
        </Space>
        {remove.error && <ErrorNotice error={remove.error} />}
        {tasks.error ? (
          <ErrorNotice error={tasks.error} onRetry={() => void tasks.refetch()} />
        ) : (
          <Table<Task>
            rowKey="id"
            size="small"
            loading={tasks.isPending}
            dataSource={tasks.data?.data ?? []}
            pagination={false}
            locale={{ emptyText: t('annotation.empty') }}
            columns={[
              { title: t('annotation.name'), dataIndex: 'name', render: (name: string, x) => <Link to={`/annotation-tasks/${x.id}`}>{name}</Link> },
              { title: t('annotation.version'), dataIndex: 'version', render: (v: number) => t('datasets.version', { version: v }) },
              {
                title: t('annotation.progress'),
                key: 'progress',
                render: (_, x) => (
                  <div style={{ minWidth: 160 }}>
                    <Typography.Text>{t('annotation.doneOf', { done: formatNumber(x.annotated), total: formatNumber(x.records) })}</Typography.Text>
                    <Progress size="small" percent={Math.floor((100 * x.annotated) / Math.max(x.records, 1))} aria-label={t('annotation.progressOf', { name: x.name })} />
                  </div>
                ),
              },
              { title: t('annotation.state'), dataIndex: 'state', render: (s: Task['state'], x) => <Tag color={s === 'completed' ? undefined : 'blue'}>{t(`annotation.states.${s}`)}{x.result_version ? ` → ${t('datasets.version', { version: x.result_version })}` : ''}</Tag> },
              {
                title: '',
                key: 'actions',
                render: (_, x) =>
                  mayStart && (
                    <Popconfirm title={t('annotation.deleteConfirm', { name: x.name })} onConfirm={() => remove.mutate(x.id)} okButtonProps={{ danger: true }}>
                      <Button size="small" danger icon={<DeleteOutlined />} aria-label={t('annotation.deleteNamed', { name: x.name })} />
                    </Popconfirm>
                  ),
              },
            ]}
          />
        )}
      </Space>
      <NewTaskDrawer datasetId={datasetId} projectId={projectId} version={version} open={creating} onClose={() => setCreating(false)} />
    </>
  );
}
