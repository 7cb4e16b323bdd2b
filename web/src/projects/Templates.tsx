// A project's configuration templates of fine-tuning jobs: what each sets (method, base model,
// steps, resources), a link that opens the wizard with it applied, and — for those who may
// train in the project — deletion (confirmed). Templates are saved from the wizard.
import { DeleteOutlined, ExperimentOutlined } from '@ant-design/icons';
import { useMutation, useQueryClient } from '@tanstack/react-query';
import { Button, Card, Popconfirm, Space, Table, Typography } from 'antd';
import { useTranslation } from 'react-i18next';
import { Link } from 'react-router';
import { api, unwrap } from '../api/client';
import { useBaseModels, useJobTemplates } from '../api/queries';
import { ErrorNotice } from '../app/ErrorNotice';
import { formatUnixTime } from '../i18n/format';
import type { JobTemplate } from '../training/jobForm';

export function Templates({ projectId, mayTrain }: { projectId: string; mayTrain: boolean }) {
  const { t } = useTranslation();
  const queryClient = useQueryClient();
  const templates = useJobTemplates(projectId);
  const models = useBaseModels();
  const modelName = (id: string) => models.data?.data.find((m) => m.id === id)?.name ?? id;
  const remove = useMutation({
    mutationFn: async (id: string) => unwrap(await api.DELETE('/api/v1/job-templates/{template_id}', { params: { path: { template_id: id } } })),
    onSettled: () => queryClient.invalidateQueries({ queryKey: ['job-templates', projectId] }),
  });
  const use = (x: JobTemplate) => `/jobs/new?project=${encodeURIComponent(projectId)}&template=${encodeURIComponent(x.id)}`;
  return (
    <Card title={t('templates.title')}>
      <Typography.Paragraph type="secondary">{mayTrain ? t('templates.intro') : t('templates.introReadOnly')}</Typography.Paragraph>
      {remove.error && <div style={{ marginBottom: 16 }}><ErrorNotice error={remove.error} /></div>}
      {templates.error ? (
        <ErrorNotice error={templates.error} onRetry={() => void templates.refetch()} />
      ) : (
        <Table<JobTemplate>
          rowKey="id"
          size="small"
          loading={templates.isPending}
          dataSource={templates.data?.data ?? []}
          pagination={false}
          locale={{ emptyText: t('templates.empty') }}
          columns={[
            {
              title: t('templates.name'),
              dataIndex: 'name',
              render: (name: string, x) => (
                <Space direction="vertical" size={0}>
                  <Typography.Text strong>{name}</Typography.Text>
                  {x.description && <Typography.Text type="secondary">{x.description}</Typography.Text>}
                </Space>
              ),
            },
            { title: t('templates.method'), key: 'method', render: (_, x) => `${(x.config.objective ?? 'sft').toUpperCase()} · ${x.config.method?.kind ?? 'lora'}` },
            { title: t('templates.baseModel'), key: 'base', render: (_, x) => (x.base_model_id ? modelName(x.base_model_id) : t('templates.anyModel')) },
            { title: t('templates.steps'), key: 'steps', render: (_, x) => x.config.hyperparameters?.max_steps ?? t('templates.epochs', { count: x.config.hyperparameters?.epochs ?? 1 }) },
            { title: t('templates.devices'), key: 'devices', render: (_, x) => `${x.resources.gpus ?? 1} × ${x.resources.gpu_type ?? t('templates.anyDevice')}` },
            { title: t('templates.updated'), dataIndex: 'updated_at', render: (s: number) => formatUnixTime(s) },
            {
              title: t('templates.actions'),
              key: 'actions',
              render: (_, x) => (
                <Space>
                  {mayTrain && (
                    <Link to={use(x)} aria-label={t('templates.useNamed', { name: x.name })}>
                      <ExperimentOutlined /> {t('templates.use')}
                    </Link>
                  )}
                  {mayTrain && (
                    <Popconfirm title={t('templates.deleteConfirm', { name: x.name })} onConfirm={() => remove.mutate(x.id)} okButtonProps={{ danger: true }}>
                      <Button size="small" danger icon={<DeleteOutlined />} aria-label={t('templates.deleteNamed', { name: x.name })} />
                    </Popconfirm>
                  )}
                </Space>
              ),
            },
          ]}
        />
      )}
    </Card>
  );
}
