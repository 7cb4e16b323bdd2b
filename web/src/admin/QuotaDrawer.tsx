// Sets a quota of the organization, a project or a user: GPU-hours and budget per month, jobs
// and GPUs at once, and when to alert. Editing one keeps its subject.
import { useMutation, useQueryClient } from '@tanstack/react-query';
import { Button, Drawer, Form, InputNumber, Select } from 'antd';
import { useEffect } from 'react';
import { useTranslation } from 'react-i18next';
import { api, unwrap } from '../api/client';
import { ErrorNotice } from '../app/ErrorNotice';
import { useRevalidateOnLanguageChange } from '../app/validation';
import { buildQuotaLimits, type QuotaFields, type Scope } from './quota';

export type Subjects = Record<Scope, { value: string; label: string }[]>;

export function QuotaDrawer({ open, editing, subjects, onClose }: { open: boolean; editing: QuotaFields | null; subjects: Subjects; onClose: () => void }) {
  const { t } = useTranslation();
  const queryClient = useQueryClient();
  const [form] = Form.useForm<QuotaFields>();
  useRevalidateOnLanguageChange(form);
  const scope = Form.useWatch('scope', form);
  useEffect(() => {
    if (open) form.setFieldsValue(editing ?? { scope: 'organization', subject_id: subjects.organization[0]?.value });
  }, [open, editing, form, subjects]);
  const save = useMutation({
    mutationFn: async (f: QuotaFields) =>
      unwrap(await api.PUT('/api/v1/quotas/{scope}/{subject_id}', { params: { path: { scope: f.scope, subject_id: f.subject_id } }, body: buildQuotaLimits(f) })),
    onSuccess: async () => {
      await queryClient.invalidateQueries({ queryKey: ['quotas'] });
      onClose();
    },
  });
  const number = (name: keyof QuotaFields, label: string, help: string, props: { precision?: number; max?: number; min?: number } = {}) => (
    <Form.Item name={name} label={label} extra={help}>
      <InputNumber min={props.min ?? 0} max={props.max} precision={props.precision} style={{ width: '100%' }} placeholder={t('quotas.noLimit')} />
    </Form.Item>
  );
  return (
    <Drawer title={editing ? t('quotas.edit') : t('quotas.set')} open={open} onClose={onClose} size={480} destroyOnHidden>
      <Form<QuotaFields> form={form} layout="vertical" requiredMark={false} onFinish={(f) => save.mutate(f)}>
        <Form.Item name="scope" label={t('quotas.scope')}>
          <Select
            disabled={!!editing}
            options={(['organization', 'project', 'user'] as const).map((s) => ({ value: s, label: t(`quotas.scopes.${s}`) }))}
            onChange={(s: Scope) => form.setFieldValue('subject_id', subjects[s][0]?.value)}
          />
        </Form.Item>
        <Form.Item name="subject_id" label={t('quotas.subject')} rules={[{ required: true, message: t('quotas.subjectRequired') }]}>
          <Select disabled={!!editing} showSearch={{ optionFilterProp: 'label' }} options={subjects[(scope ?? 'organization') as Scope]} />
        </Form.Item>
        {number('gpu_hours_per_month', t('quotas.gpuHours'), t('quotas.gpuHoursHelp'), { precision: 1 })}
        {number('budget_per_month', t('quotas.budget'), t('quotas.budgetHelp'), { precision: 2 })}
        {number('max_concurrent_jobs', t('quotas.jobs'), t('quotas.jobsHelp'), { precision: 0 })}
        {number('max_gpus', t('quotas.gpus'), t('quotas.gpusHelp'), { precision: 0 })}
        {number('alert_at_percent', t('quotas.alertAt'), t('quotas.alertAtHelp'), { precision: 0, min: 1, max: 100 })}
        {save.error && <div style={{ marginBottom: 16 }}><ErrorNotice error={save.error} /></div>}
        <Button type="primary" htmlType="submit" loading={save.isPending} block>{t('quotas.save')}</Button>
      </Form>
    </Drawer>
  );
}
