// Saves the wizard's choices as a configuration template of the chosen project: a name (unique
// in the project; the server says so) and a description. Replacing a template of the same name
// is the template's own page's business: here a taken name is an error that says so.
import { useMutation, useQueryClient } from '@tanstack/react-query';
import { Form, Input, Modal } from 'antd';
import { useTranslation } from 'react-i18next';
import { api, unwrap, type Schemas } from '../api/client';
import { ErrorNotice } from '../app/ErrorNotice';
import { useRevalidateOnLanguageChange } from '../app/validation';

export function SaveTemplateModal({
  open,
  projectId,
  body,
  onClose,
  onSaved,
}: {
  open: boolean;
  projectId: string;
  /** The template's content for a name and description. */
  body: (name: string, description: string) => Schemas['NewJobTemplate'];
  onClose: () => void;
  onSaved: (t: Schemas['JobTemplate']) => void;
}) {
  const { t } = useTranslation();
  const queryClient = useQueryClient();
  const [form] = Form.useForm<{ name: string; description?: string }>();
  useRevalidateOnLanguageChange(form);
  const save = useMutation({
    mutationFn: async (v: { name: string; description?: string }) =>
      unwrap(
        await api.POST('/api/v1/projects/{project_id}/job-templates', {
          params: { path: { project_id: projectId } },
          body: body(v.name.trim(), v.description?.trim() ?? ''),
        }),
      ),
    onSuccess: async (saved) => {
      await queryClient.invalidateQueries({ queryKey: ['job-templates', projectId] });
      form.resetFields();
      onSaved(saved);
    },
  });
  return (
    <Modal
      open={open}
      title={t('templates.saveTitle')}
      okText={t('templates.save')}
      cancelText={t('templates.cancel')}
      confirmLoading={save.isPending}
      onOk={() => form.submit()}
      onCancel={onClose}
      destroyOnHidden
    >
      <Form form={form} layout="vertical" requiredMark={false} onFinish={(v) => save.mutate(v)}>
        <Form.Item label={t('templates.name')} name="name" rules={[{ required: true, whitespace: true, message: t('templates.nameRequired') }, { max: 100 }]}>
          <Input autoFocus />
        </Form.Item>
        <Form.Item label={t('templates.description')} name="description" extra={t('templates.descriptionHelp')} rules={[{ max: 2000 }]}>
          <Input.TextArea rows={3} />
        </Form.Item>
      </Form>
      {save.error && <ErrorNotice error={save.error} />}
    </Modal>
  );
}
