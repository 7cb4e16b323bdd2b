import { useMutation, useQueryClient } from '@tanstack/react-query';
import { Button, Drawer, Form, Input, Select } from 'antd';
import { useTranslation } from 'react-i18next';
import { useNavigate } from 'react-router';
import { api, unwrap } from '../api/client';
import { ErrorNotice } from '../app/ErrorNotice';
import { useModelOptions } from '../models/useModelOptions';
import { useRevalidateOnLanguageChange } from '../app/validation';

type Fields = { model: string; name?: string };

/** Deploys a fine-tuned model or a ready base model on the local backend. */
export function DeployDrawer({ open, onClose }: { open: boolean; onClose: () => void }) {
  const { t } = useTranslation();
  const navigate = useNavigate();
  const queryClient = useQueryClient();
  const [form] = Form.useForm<Fields>();
  useRevalidateOnLanguageChange(form);
  const models = useModelOptions(open);
  const deploy = useMutation({
    mutationFn: async (f: Fields) => unwrap(await api.POST('/api/v1/deployments', { body: { model: f.model, name: f.name?.trim() || null } })),
    onSuccess: async (d) => {
      await queryClient.invalidateQueries({ queryKey: ['deployments'] });
      navigate(`/deployments/${d.id}`);
    },
  });
  return (
    <Drawer title={t('deployments.create')} open={open} onClose={onClose} size={480} destroyOnHidden>
      <Form<Fields> form={form} layout="vertical" requiredMark={false} onFinish={(f) => deploy.mutate(f)}>
        <Form.Item label={t('deployments.model')} name="model" extra={t('deployments.modelHelp')} rules={[{ required: true, message: t('jobs.required') }]}>
          <Select loading={models.loading} options={models.options} showSearch={{ optionFilterProp: 'label' }} />
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
