// Creates an API key: name, scopes (a subset of the caller's), an optional project, expiry and
// inference limits. The secret comes back once; the page shows it.
import { useMutation, useQueryClient } from '@tanstack/react-query';
import { Button, Drawer, Form, Input, InputNumber, Select, Typography } from 'antd';
import { useTranslation } from 'react-i18next';
import { api, unwrap, type Schemas } from '../api/client';
import { useDeployments, useProjects } from '../api/queries';
import { ErrorNotice } from '../app/ErrorNotice';
import { useMe } from '../app/useMe';
import { useRevalidateOnLanguageChange } from '../app/validation';
import { buildKeyRequest, type KeyFields } from './keyState';

const tomorrow = () => new Date(Date.now() + 86_400_000).toISOString().slice(0, 10);

export function CreateKeyDrawer({ open, onClose, onCreated }: { open: boolean; onClose: () => void; onCreated: (key: Schemas['ApiKeyView']) => void }) {
  const { t } = useTranslation();
  const queryClient = useQueryClient();
  const me = useMe();
  const [form] = Form.useForm<KeyFields>();
  useRevalidateOnLanguageChange(form);
  const projects = useProjects(open);
  const deployments = useDeployments(open);
  const create = useMutation({
    mutationFn: async (f: KeyFields) => unwrap(await api.POST('/api/v1/api-keys', { body: buildKeyRequest(f) })),
    onSuccess: async (key) => {
      form.resetFields();
      await queryClient.invalidateQueries({ queryKey: ['api-keys'] });
      onCreated(key);
    },
  });
  const limit = (name: keyof KeyFields, label: string, help: string) => (
    <Form.Item name={name} label={label} extra={help}>
      <InputNumber min={1} precision={0} style={{ width: '100%' }} placeholder={t('keys.unlimited')} />
    </Form.Item>
  );
  return (
    <Drawer title={t('keys.create')} open={open} onClose={onClose} size={520} destroyOnHidden>
      <Form<KeyFields> form={form} layout="vertical" requiredMark={false} onFinish={(f) => create.mutate(f)}>
        <Form.Item name="name" label={t('keys.name')} extra={t('keys.nameHelp')} rules={[{ required: true, whitespace: true, max: 100, message: t('keys.nameRequired') }]}>
          <Input autoComplete="off" />
        </Form.Item>
        <Form.Item name="scopes" label={t('keys.scopes')} extra={t('keys.scopesHelp')}>
          <Select mode="multiple" allowClear options={(me.data?.permissions ?? []).map((p) => ({ value: p, label: t(`permissions.${p}`, { defaultValue: p }) }))} />
        </Form.Item>
        <Form.Item name="project_id" label={t('keys.project')} extra={t('keys.projectHelp')}>
          <Select allowClear loading={projects.isPending} options={(projects.data?.data ?? []).map((p) => ({ value: p.id, label: p.name }))} />
        </Form.Item>
        <Form.Item name="expires_on" label={t('keys.expires')} extra={t('keys.expiresHelp')}>
          <Input type="date" min={tomorrow()} />
        </Form.Item>
        <Typography.Title level={2} style={{ fontSize: 16 }}>{t('keys.limits')}</Typography.Title>
        {limit('requests_per_minute', t('keys.rpm'), t('keys.rpmHelp'))}
        {limit('tokens_per_minute', t('keys.tpm'), t('keys.tpmHelp'))}
        {limit('monthly_tokens', t('keys.monthly'), t('keys.monthlyHelp'))}
        <Form.Item name="deployment_ids" label={t('keys.deployments')} extra={t('keys.deploymentsHelp')}>
          <Select mode="multiple" allowClear loading={deployments.isPending} options={(deployments.data?.data ?? []).map((d) => ({ value: d.id, label: d.name }))} />
        </Form.Item>
        {create.error && <div style={{ marginBottom: 16 }}><ErrorNotice error={create.error} /></div>}
        <Button type="primary" htmlType="submit" loading={create.isPending} block>{t('keys.createButton')}</Button>
      </Form>
    </Drawer>
  );
}
