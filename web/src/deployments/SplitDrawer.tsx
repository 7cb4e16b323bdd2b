// A new traffic split: the name clients call, two to ten deployments with their weights (the
// first is the control the others are compared with), and whether a caller keeps reaching the
// same variant.
import { MinusCircleOutlined, PlusOutlined } from '@ant-design/icons';
import { useMutation, useQueryClient } from '@tanstack/react-query';
import { Button, Drawer, Form, Input, InputNumber, Select, Space, Typography } from 'antd';
import { useTranslation } from 'react-i18next';
import { useNavigate } from 'react-router';
import { api, unwrap, type Schemas } from '../api/client';
import { useDeployments } from '../api/queries';
import { ErrorNotice } from '../app/ErrorNotice';
import { useRevalidateOnLanguageChange } from '../app/validation';

type Fields = { name: string; variants: Schemas['Variant'][]; sticky: Schemas['Sticky'] };
const STICKY: Schemas['Sticky'][] = ['user', 'key', 'none'];

export function SplitDrawer({ open, onClose }: { open: boolean; onClose: () => void }) {
  const { t } = useTranslation();
  const navigate = useNavigate();
  const queryClient = useQueryClient();
  const [form] = Form.useForm<Fields>();
  useRevalidateOnLanguageChange(form);
  const deployments = useDeployments(open);
  const create = useMutation({
    mutationFn: async (f: Fields) => unwrap(await api.POST('/api/v1/traffic-splits', { body: { name: f.name.trim(), variants: f.variants, sticky: f.sticky } })),
    onSuccess: async (s) => {
      await queryClient.invalidateQueries({ queryKey: ['traffic-splits'] });
      navigate(`/traffic-splits/${s.id}`);
    },
  });
  const options = (deployments.data?.data ?? []).map((d) => ({ value: d.id, label: d.name }));
  return (
    <Drawer title={t('splits.create')} open={open} onClose={onClose} size={520} destroyOnHidden>
      <Form<Fields>
        form={form}
        layout="vertical"
        requiredMark={false}
        initialValues={{ name: '', variants: [{ deployment_id: undefined, weight: 50 }, { deployment_id: undefined, weight: 50 }], sticky: 'user' }}
        onFinish={(f) => create.mutate(f)}
      >
        <Form.Item name="name" label={t('splits.name')} extra={t('splits.nameHelp')} rules={[{ required: true, pattern: /^[A-Za-z0-9][A-Za-z0-9._:/@-]{0,199}$/, message: t('splits.nameRule') }]}>
          <Input autoComplete="off" />
        </Form.Item>
        <Form.Item label={t('splits.variants')} extra={t('splits.variantsHelp')}>
          <Form.List name="variants">
            {(fields, { add, remove }) => (
              <Space direction="vertical" style={{ width: '100%' }}>
                {fields.map((field, i) => (
                  <Space key={field.key} align="baseline" wrap>
                    <Typography.Text style={{ width: 72, display: 'inline-block' }}>{i === 0 ? t('splits.control') : t('splits.variant', { n: i })}</Typography.Text>
                    <Form.Item name={[field.name, 'deployment_id']} rules={[{ required: true, message: t('splits.deploymentRequired') }]} noStyle>
                      <Select style={{ width: 220 }} options={options} loading={deployments.isPending} aria-label={t('splits.deploymentOf', { n: i + 1 })} />
                    </Form.Item>
                    <Form.Item name={[field.name, 'weight']} noStyle>
                      <InputNumber min={1} max={1000} precision={0} aria-label={t('splits.weightOf', { n: i + 1 })} style={{ width: 100 }} />
                    </Form.Item>
                    {fields.length > 2 && <Button type="text" icon={<MinusCircleOutlined />} aria-label={t('splits.removeVariant')} onClick={() => remove(field.name)} />}
                  </Space>
                ))}
                {fields.length < 10 && <Button icon={<PlusOutlined />} onClick={() => add({ weight: 50 })}>{t('splits.addVariant')}</Button>}
              </Space>
            )}
          </Form.List>
        </Form.Item>
        <Form.Item name="sticky" label={t('splits.sticky')}>
          <Select options={STICKY.map((s) => ({ value: s, label: t(`splits.stickies.${s}`) }))} />
        </Form.Item>
        {create.error && <div style={{ marginBottom: 16 }}><ErrorNotice error={create.error} /></div>}
        <Button type="primary" htmlType="submit" loading={create.isPending}>{t('splits.createButton')}</Button>
      </Form>
    </Drawer>
  );
}
