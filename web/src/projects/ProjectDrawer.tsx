// A project's name, description and visibility: a new project, or the settings of one the caller
// manages. Saved in one request; the server's answer (a name taken, a permission missing) shows
// in the drawer and nothing is lost.
import { useMutation, useQueryClient } from '@tanstack/react-query';
import { Button, Drawer, Form, Input, Radio, Space } from 'antd';
import { useTranslation } from 'react-i18next';
import { api, unwrap, type Schemas } from '../api/client';
import { ErrorNotice } from '../app/ErrorNotice';
import { useRevalidateOnLanguageChange } from '../app/validation';

type Project = Schemas['ProjectView'];
export type ProjectVisibility = 'project' | 'organization' | 'private';
export const PROJECT_VISIBILITIES: ProjectVisibility[] = ['project', 'organization', 'private'];
type Fields = { name: string; description: string; visibility: ProjectVisibility };

export function ProjectDrawer({ open, project, onClose, onSaved }: { open: boolean; project?: Project; onClose: () => void; onSaved: (p: Project) => void }) {
  const { t } = useTranslation();
  const queryClient = useQueryClient();
  const [form] = Form.useForm<Fields>();
  useRevalidateOnLanguageChange(form);
  const save = useMutation({
    mutationFn: async (body: Fields) =>
      project
        ? unwrap(await api.PATCH('/api/v1/projects/{project_id}', { params: { path: { project_id: project.id } }, body }))
        : unwrap(await api.POST('/api/v1/projects', { body })),
    onSuccess: async (saved) => {
      queryClient.setQueryData(['project', saved.id], saved);
      await queryClient.invalidateQueries({ queryKey: ['projects'] });
      await queryClient.invalidateQueries({ queryKey: ['me'] });
      onSaved(saved);
    },
  });
  const initial: Fields = project
    ? { name: project.name, description: project.description, visibility: project.visibility as ProjectVisibility }
    : { name: '', description: '', visibility: 'project' };
  return (
    <Drawer title={project ? t('projects.settingsOf', { name: project.name }) : t('projects.create')} open={open} onClose={onClose} size={480} destroyOnHidden>
      <Form<Fields> form={form} layout="vertical" requiredMark={false} initialValues={initial} onFinish={(f) => save.mutate({ ...f, name: f.name.trim() })}>
        <Form.Item name="name" label={t('projects.name')} rules={[{ required: true, whitespace: true, message: t('projects.nameRequired') }, { max: 100, message: t('projects.nameTooLong') }]}>
          <Input autoComplete="off" />
        </Form.Item>
        <Form.Item name="description" label={t('projects.description')} rules={[{ max: 2000, message: t('projects.descriptionTooLong') }]}>
          <Input.TextArea rows={3} />
        </Form.Item>
        <Form.Item name="visibility" label={t('projects.visibility')} extra={t('projects.visibilityHelp')}>
          <Radio.Group>
            <Space direction="vertical">
              {PROJECT_VISIBILITIES.map((v) => (
                <Radio key={v} value={v}>{t(`projects.visibilities.${v}`)}</Radio>
              ))}
            </Space>
          </Radio.Group>
        </Form.Item>
        {save.error && <div style={{ marginBottom: 16 }}><ErrorNotice error={save.error} /></div>}
        <Button type="primary" htmlType="submit" loading={save.isPending}>{project ? t('projects.save') : t('projects.createButton')}</Button>
      </Form>
    </Drawer>
  );
}
