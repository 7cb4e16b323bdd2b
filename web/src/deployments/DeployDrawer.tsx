import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { Button, Drawer, Form, Input, Select } from 'antd';
import { useTranslation } from 'react-i18next';
import { useNavigate } from 'react-router';
import { api, unwrap } from '../api/client';
import { ErrorNotice } from '../app/ErrorNotice';
import { useRevalidateOnLanguageChange } from '../app/validation';

type Fields = { model: string; name?: string };

/** Deploys a fine-tuned model or a ready base model on the local backend. */
export function DeployDrawer({ open, onClose }: { open: boolean; onClose: () => void }) {
  const { t } = useTranslation();
  const navigate = useNavigate();
  const queryClient = useQueryClient();
  const [form] = Form.useForm<Fields>();
  useRevalidateOnLanguageChange(form);
  const tuned = useQuery({ queryKey: ['models'], enabled: open, queryFn: async () => unwrap(await api.GET('/api/v1/models', { params: { query: { limit: 100 } } })) });
  const bases = useQuery({ queryKey: ['base-models'], enabled: open, queryFn: async () => unwrap(await api.GET('/api/v1/base-models', { params: { query: { limit: 100 } } })) });
  const deploy = useMutation({
    mutationFn: async (f: Fields) => unwrap(await api.POST('/api/v1/deployments', { body: { model: f.model, name: f.name?.trim() || null } })),
    onSuccess: async (d) => {
      await queryClient.invalidateQueries({ queryKey: ['deployments'] });
      navigate(`/deployments/${d.id}`);
    },
  });
  const options = [
    ...(tuned.data?.data ?? []).map((m) => ({ value: m.id, label: `${m.name} (${m.id})` })),
    ...(bases.data?.data ?? []).filter((m) => m.status === 'ready').map((m) => ({ value: m.id, label: `${m.name} (${m.id})` })),
  ];
  return (
    <Drawer title={t('deployments.create')} open={open} onClose={onClose} size={480} destroyOnHidden>
      <Form<Fields> form={form} layout="vertical" requiredMark={false} onFinish={(f) => deploy.mutate(f)}>
        <Form.Item label={t('deployments.model')} name="model" extra={t('deployments.modelHelp')} rules={[{ required: true, message: t('jobs.required') }]}>
          <Select loading={tuned.isPending || bases.isPending} options={options} showSearch={{ optionFilterProp: 'label' }} />
        </Form.Item>
        <Form.Item label={t('deployments.name')} name="name" extra={t('deployments.nameHelp')} rules={[{ max: 100 }]}>
          <Input autoComplete="off" />
        </Form.Item>
        {deploy.error && <div style={{ marginBottom: 16 }}><ErrorNotice error={deploy.error} /></div>}
        <Button type="primary" htmlType="submit" loading={deploy.isPending} block>{t('deployments.deploy')}</Button>
      </Form>
    </Drawer>
  );
}
