// A new human evaluation: the evaluations whose answers are rated (succeeded, on one test set),
// rubric (with its criteria, 0–5 by default) or pairwise (exactly two), who rates (roles, and
// named people where the caller may list them), instructions and a sample size.
import { MinusCircleOutlined, PlusOutlined } from '@ant-design/icons';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { Button, Drawer, Form, Input, InputNumber, Radio, Select, Space } from 'antd';
import { useTranslation } from 'react-i18next';
import { useNavigate } from 'react-router';
import { api, unwrap, type Schemas } from '../api/client';
import { everyPage, useUsers } from '../api/queries';
import { ErrorNotice } from '../app/ErrorNotice';
import { useCan } from '../app/useMe';
import { useRevalidateOnLanguageChange } from '../app/validation';

type Role = NonNullable<Schemas['Raters']['roles']>[number];
const ROLES: Role[] = ['admin', 'researcher', 'developer', 'viewer'];
export const DEFAULT_CRITERIA: Schemas['Criterion'][] = [
  { name: 'relevance', min: 0, max: 5 },
  { name: 'fluency', min: 0, max: 5 },
  { name: 'factual_accuracy', min: 0, max: 5 },
];

type Fields = {
  name: string;
  evaluation_ids: string[];
  mode: 'rubric' | 'pairwise';
  criteria: Schemas['Criterion'][];
  roles: Role[];
  users: string[];
  instructions: string;
  sample?: number | null;
};

export function NewHumanEvalDrawer({ open, onClose }: { open: boolean; onClose: () => void }) {
  const { t } = useTranslation();
  const navigate = useNavigate();
  const queryClient = useQueryClient();
  const [form] = Form.useForm<Fields>();
  useRevalidateOnLanguageChange(form);
  const mode = Form.useWatch('mode', form) ?? 'rubric';
  const mayListUsers = useCan('manage_users');
  const users = useUsers(open && mayListUsers);
  const evaluations = useQuery({
    queryKey: ['evaluations'],
    enabled: open,
    queryFn: async () => everyPage(async (query) => unwrap(await api.GET('/api/v1/evaluations', { params: { query } }))),
  });
  const create = useMutation({
    mutationFn: async (f: Fields) =>
      unwrap(
        await api.POST('/api/v1/human-evals', {
          body: {
            name: f.name.trim(),
            evaluation_ids: f.evaluation_ids,
            mode: f.mode,
            criteria: f.mode === 'rubric' ? f.criteria : null,
            raters: { roles: f.roles, users: f.users },
            instructions: f.instructions.trim() || null,
            sample: f.sample ?? null,
          },
        }),
      ),
    onSuccess: async (h) => {
      await queryClient.invalidateQueries({ queryKey: ['human-evals'] });
      navigate(`/human-evals/${h.id}`);
    },
  });
  const succeeded = (evaluations.data?.data ?? []).filter((e) => e.state === 'succeeded');
  return (
    <Drawer title={t('humanEvals.create')} open={open} onClose={onClose} size={560} destroyOnHidden>
      <Form<Fields>
        form={form}
        layout="vertical"
        requiredMark={false}
        initialValues={{ name: '', evaluation_ids: [], mode: 'rubric', criteria: DEFAULT_CRITERIA, roles: ['admin', 'researcher'], users: [], instructions: '' }}
        onFinish={(f) => create.mutate(f)}
      >
        <Form.Item name="name" label={t('humanEvals.name')} rules={[{ required: true, whitespace: true, message: t('humanEvals.nameRequired') }]}>
          <Input autoComplete="off" />
        </Form.Item>
        <Form.Item name="mode" label={t('humanEvals.mode')} extra={mode === 'pairwise' ? t('humanEvals.pairwiseHelp') : t('humanEvals.rubricHelp')}>
          <Radio.Group options={[{ value: 'rubric', label: t('humanEvals.modes.rubric') }, { value: 'pairwise', label: t('humanEvals.modes.pairwise') }]} />
        </Form.Item>
        <Form.Item
          name="evaluation_ids"
          label={t('humanEvals.evaluations')}
          extra={t('humanEvals.evaluationsHelp')}
          rules={[
            {
              validator: (_, ids: string[]) =>
                (mode === 'pairwise' ? ids?.length === 2 : ids?.length >= 1 && ids.length <= 8)
                  ? Promise.resolve()
                  : Promise.reject(new Error(mode === 'pairwise' ? t('humanEvals.needTwo') : t('humanEvals.needOneToEight'))),
            },
          ]}
        >
          <Select
            mode="multiple"
            loading={evaluations.isPending}
            options={succeeded.map((e) => ({ value: e.id, label: `${e.name}${e.model ? ` (${e.model})` : ''}` }))}
            notFoundContent={t('humanEvals.noEvaluations')}
          />
        </Form.Item>
        {mode === 'rubric' && (
          <Form.Item label={t('humanEvals.criteriaLabel')} extra={t('humanEvals.criteriaHelp')}>
            <Form.List name="criteria">
              {(fields, { add, remove }) => (
                <Space direction="vertical" style={{ width: '100%' }}>
                  {fields.map((field) => (
                    <Space key={field.key} align="baseline" wrap>
                      <Form.Item name={[field.name, 'name']} rules={[{ required: true, pattern: /^[a-z][a-z0-9_]{0,39}$/, message: t('humanEvals.criterionName') }]} noStyle>
                        <Input placeholder={t('humanEvals.criterionPlaceholder')} aria-label={t('humanEvals.criterion')} style={{ width: 180 }} />
                      </Form.Item>
                      <Form.Item name={[field.name, 'min']} noStyle>
                        <InputNumber min={0} max={100} precision={0} aria-label={t('humanEvals.min')} style={{ width: 80 }} />
                      </Form.Item>
                      <Form.Item name={[field.name, 'max']} noStyle>
                        <InputNumber min={1} max={100} precision={0} aria-label={t('humanEvals.max')} style={{ width: 80 }} />
                      </Form.Item>
                      {fields.length > 1 && <Button type="text" icon={<MinusCircleOutlined />} aria-label={t('humanEvals.removeCriterion')} onClick={() => remove(field.name)} />}
                    </Space>
                  ))}
                  {fields.length < 10 && <Button icon={<PlusOutlined />} onClick={() => add({ name: '', min: 0, max: 5 })}>{t('humanEvals.addCriterion')}</Button>}
                </Space>
              )}
            </Form.List>
          </Form.Item>
        )}
        <Form.Item name="roles" label={t('humanEvals.raterRoles')} extra={t('humanEvals.raterRolesHelp')}>
          <Select mode="multiple" options={ROLES.map((r) => ({ value: r, label: t(`roles.${r}`) }))} />
        </Form.Item>
        {mayListUsers && (
          <Form.Item name="users" label={t('humanEvals.raterUsers')}>
            <Select mode="multiple" loading={users.isPending} optionFilterProp="label" options={(users.data?.data ?? []).map((u) => ({ value: u.id, label: `${u.name} <${u.email}>` }))} />
          </Form.Item>
        )}
        <Form.Item name="instructions" label={t('humanEvals.instructions')}>
          <Input.TextArea rows={3} placeholder={t('humanEvals.instructionsPlaceholder')} />
        </Form.Item>
        <Form.Item name="sample" label={t('humanEvals.sample')} extra={t('humanEvals.sampleHelp')}>
          <InputNumber min={1} max={5000} precision={0} style={{ width: 160 }} />
        </Form.Item>
        {create.error && <div style={{ marginBottom: 16 }}><ErrorNotice error={create.error} /></div>}
        <Button type="primary" htmlType="submit" loading={create.isPending}>{t('humanEvals.createButton')}</Button>
      </Form>
    </Drawer>
  );
}
