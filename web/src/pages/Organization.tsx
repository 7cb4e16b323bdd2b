// The organization's settings (with `manage_users`): its name, open registration and the role
// it gives, inference limits per minute across the organization; and its content policy.
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { Alert, Button, Card, Form, Input, InputNumber, Select, Skeleton, Space, Switch } from 'antd';
import { useTranslation } from 'react-i18next';
import { api, unwrap, type Schemas } from '../api/client';
import { ContentPolicyCard } from '../admin/ContentPolicyCard';
import { ErrorNotice } from '../app/ErrorNotice';
import { PageHeader } from '../app/PageHeader';
import { useCan, useMe } from '../app/useMe';
import { useRevalidateOnLanguageChange } from '../app/validation';

type Role = 'admin' | 'researcher' | 'developer' | 'viewer';
type Fields = { name: string; open_registration: boolean; default_role: Role; inference_requests_per_minute: number; inference_tokens_per_minute: number };

export function Organization() {
  const { t } = useTranslation();
  const queryClient = useQueryClient();
  const me = useMe();
  const mayEditPolicy = useCan('manage_resources');
  const orgId = me.data?.organization.id ?? '';
  const [form] = Form.useForm<Fields>();
  useRevalidateOnLanguageChange(form);
  const org = useQuery({
    queryKey: ['organization', orgId],
    enabled: orgId !== '',
    queryFn: async () => unwrap(await api.GET('/api/v1/organizations/{org_id}', { params: { path: { org_id: orgId } } })),
  });
  const save = useMutation({
    mutationFn: async (f: Fields) =>
      unwrap(await api.PATCH('/api/v1/organizations/{org_id}', { params: { path: { org_id: orgId } }, body: { ...f, name: f.name.trim() } as Schemas['UpdateOrganizationRequest'] })),
    onSuccess: async (v) => {
      queryClient.setQueryData(['organization', orgId], v);
      await queryClient.invalidateQueries({ queryKey: ['me'] });
    },
  });
  if (me.isPending || org.isPending) return <Skeleton active />;
  if (me.error || org.error) return <ErrorNotice error={me.error ?? org.error} onRetry={() => void org.refetch()} />;
  const o = org.data;
  return (
    <Space direction="vertical" size="large" style={{ width: '100%' }}>
      <PageHeader title={t('organization.title')} />
      <Card title={t('organization.settings')}>
        <Form<Fields>
          form={form}
          layout="vertical"
          requiredMark={false}
          style={{ maxWidth: 560 }}
          initialValues={{
            name: o.name,
            open_registration: o.open_registration,
            default_role: o.default_role as Role,
            inference_requests_per_minute: o.inference_requests_per_minute ?? 0,
            inference_tokens_per_minute: o.inference_tokens_per_minute ?? 0,
          }}
          onFinish={(f) => save.mutate(f)}
        >
          <Form.Item name="name" label={t('organization.name')} rules={[{ required: true, whitespace: true, message: t('organization.nameRequired') }]}>
            <Input />
          </Form.Item>
          <Form.Item name="open_registration" label={t('organization.openRegistration')} valuePropName="checked" extra={t('organization.openRegistrationHelp')}>
            <Switch />
          </Form.Item>
          <Form.Item name="default_role" label={t('organization.defaultRole')}>
            <Select options={(['viewer', 'developer', 'researcher', 'admin'] as Role[]).map((r) => ({ value: r, label: t(`roles.${r}`) }))} />
          </Form.Item>
          <Form.Item name="inference_requests_per_minute" label={t('organization.requestsPerMinute')} extra={t('organization.zeroNoLimit')}>
            <InputNumber min={0} precision={0} style={{ width: 220 }} />
          </Form.Item>
          <Form.Item name="inference_tokens_per_minute" label={t('organization.tokensPerMinute')} extra={t('organization.zeroNoLimit')}>
            <InputNumber min={0} precision={0} style={{ width: 220 }} />
          </Form.Item>
          {save.error && <div style={{ marginBottom: 16 }}><ErrorNotice error={save.error} /></div>}
          {save.isSuccess && <Alert style={{ marginBottom: 16 }} type="success" showIcon title={t('organization.saved')} />}
          <Button type="primary" htmlType="submit" loading={save.isPending}>{t('organization.save')}</Button>
        </Form>
      </Card>
      <ContentPolicyCard mayEdit={mayEditPolicy} />
    </Space>
  );
}
