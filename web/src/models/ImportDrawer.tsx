// Imports a base model for the organization (`manage_resources`): from the Hugging Face Hub (or
// its configured mirror) at a revision, or from a directory, GGUF file or archive on the server.
import { useMutation, useQueryClient } from '@tanstack/react-query';
import { Button, Drawer, Form, Input, Select } from 'antd';
import { useEffect } from 'react';
import { useTranslation } from 'react-i18next';
import { api, unwrap, type Schemas } from '../api/client';
import { ErrorNotice } from '../app/ErrorNotice';
import { useRevalidateOnLanguageChange } from '../app/validation';

type Kind = 'hub' | 'directory' | 'gguf' | 'archive';
type Fields = { name: string; kind: Kind; repo_id?: string; revision?: string; path?: string };

export function importRequest(f: Fields): Schemas['ImportBaseModelRequest'] {
  const source: Schemas['ImportSourceBody'] =
    f.kind === 'hub'
      ? { kind: 'hub', repo_id: (f.repo_id ?? '').trim(), ...(f.revision?.trim() ? { revision: f.revision.trim() } : {}) }
      : { kind: f.kind, path: (f.path ?? '').trim() };
  return { name: f.name.trim(), source };
}

/** `repo`: a catalog entry to import, filled in. */
export function ImportDrawer({ open, repo, onClose }: { open: boolean; repo?: string; onClose: () => void }) {
  const { t } = useTranslation();
  const queryClient = useQueryClient();
  const [form] = Form.useForm<Fields>();
  useRevalidateOnLanguageChange(form);
  const kind = Form.useWatch('kind', form) ?? 'hub';
  useEffect(() => {
    if (open) form.setFieldsValue({ kind: 'hub', repo_id: repo, name: repo?.split('/').pop() });
  }, [open, repo, form]);
  const start = useMutation({
    mutationFn: async (f: Fields) => unwrap(await api.POST('/api/v1/base-models/import', { body: importRequest(f) })),
    onSuccess: async () => {
      await queryClient.invalidateQueries({ queryKey: ['base-models'] });
      onClose();
    },
  });
  return (
    <Drawer title={t('models.importTitle')} open={open} onClose={onClose} size={480} destroyOnHidden>
      <Form<Fields> form={form} layout="vertical" requiredMark={false} onFinish={(f) => start.mutate(f)}>
        <Form.Item name="kind" label={t('models.source')}>
          <Select options={(['hub', 'directory', 'gguf', 'archive'] as const).map((k) => ({ value: k, label: t(`models.sources.${k}`) }))} />
        </Form.Item>
        {kind === 'hub' ? (
          <>
            <Form.Item name="repo_id" label={t('models.repo')} extra={t('models.repoHelp')} rules={[{ required: true, pattern: /^[^/\s]+\/[^/\s]+$/, message: t('models.repoRequired') }]}>
              <Input autoComplete="off" placeholder="Qwen/Qwen2.5-0.5B-Instruct" />
            </Form.Item>
            <Form.Item name="revision" label={t('models.revision')} extra={t('models.revisionHelp')}>
              <Input autoComplete="off" placeholder="main" />
            </Form.Item>
          </>
        ) : (
          <Form.Item name="path" label={t('models.path')} extra={t(`models.pathHelp.${kind as Exclude<Kind, 'hub'>}`)} rules={[{ required: true, pattern: /^\//, message: t('models.pathRequired') }]}>
            <Input autoComplete="off" />
          </Form.Item>
        )}
        <Form.Item name="name" label={t('models.name')} rules={[{ required: true, whitespace: true, max: 100, message: t('models.nameRequired') }]}>
          <Input autoComplete="off" />
        </Form.Item>
        {start.error && <div style={{ marginBottom: 16 }}><ErrorNotice error={start.error} /></div>}
        <Button type="primary" htmlType="submit" loading={start.isPending} block>{t('models.import')}</Button>
      </Form>
    </Drawer>
  );
}
