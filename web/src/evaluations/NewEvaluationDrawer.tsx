import { useMutation, useQueryClient } from '@tanstack/react-query';
import { Button, Checkbox, Drawer, Form, InputNumber, Select } from 'antd';
import { useTranslation } from 'react-i18next';
import { useNavigate } from 'react-router';
import { api, unwrap, type Schemas } from '../api/client';
import { useDatasets } from '../api/queries';
import { ErrorNotice } from '../app/ErrorNotice';
import { useModelOptions } from '../models/useModelOptions';
import { useRevalidateOnLanguageChange } from '../app/validation';

type Metric = Schemas['NewEvaluation']['metrics'][number];
type Fields = { model: string; dataset_id: string; metrics: Metric[]; max_tokens: number };

/** The metrics offered up front; the API accepts more (see its document). */
const METRICS: Metric[] = ['exact_match', 'chrf', 'bleu', 'rougeL', 'meteor', 'bertscore'];

export function NewEvaluationDrawer({ open, onClose }: { open: boolean; onClose: () => void }) {
  const { t } = useTranslation();
  const navigate = useNavigate();
  const queryClient = useQueryClient();
  const [form] = Form.useForm<Fields>();
  useRevalidateOnLanguageChange(form);
  const models = useModelOptions(open);
  const datasets = useDatasets(open);
  const create = useMutation({
    mutationFn: async (f: Fields) =>
      unwrap(await api.POST('/api/v1/evaluations', { body: { model: f.model, dataset_id: f.dataset_id, metrics: f.metrics, generation: { max_tokens: f.max_tokens } } as Schemas['NewEvaluation'] })),
    onSuccess: async (e) => {
      await queryClient.invalidateQueries({ queryKey: ['evaluations'] });
      navigate(`/evaluations/${e.id}`);
    },
  });
  const required = [{ required: true, message: t('jobs.required') }];
  return (
    <Drawer title={t('evaluations.create')} open={open} onClose={onClose} size={520} destroyOnHidden>
      <Form<Fields>
        form={form}
        layout="vertical"
        requiredMark={false}
        initialValues={{ metrics: ['exact_match', 'chrf'], max_tokens: 64 }}
        onFinish={(f) => create.mutate(f)}
      >
        <Form.Item label={t('evaluations.model')} name="model" rules={required}>
          <Select loading={models.loading} options={models.options} showSearch={{ optionFilterProp: 'label' }} />
        </Form.Item>
        <Form.Item label={t('evaluations.dataset')} name="dataset_id" extra={t('evaluations.datasetHelp')} rules={required}>
          <Select loading={datasets.isPending} options={(datasets.data?.data ?? []).map((d) => ({ value: d.id, label: d.name }))} />
        </Form.Item>
        {/* `min`, not `required`: Ant Design would put aria-required on the group, which ARIA does not allow there. */}
        <Form.Item label={t('evaluations.metrics')} name="metrics" rules={[{ type: 'array', min: 1, message: t('jobs.required') }]}>
          <Checkbox.Group role="group" aria-label={t('evaluations.metrics')} options={METRICS.map((m) => ({ value: m, label: m }))} />
        </Form.Item>
        <Form.Item label={t('evaluations.maxTokens')} name="max_tokens" rules={required}>
          <InputNumber min={1} max={8192} style={{ width: '100%' }} />
        </Form.Item>
        {create.error && <div style={{ marginBottom: 16 }}><ErrorNotice error={create.error} /></div>}
        <Button type="primary" htmlType="submit" loading={create.isPending} block>{t('evaluations.submit')}</Button>
      </Form>
    </Drawer>
  );
}
