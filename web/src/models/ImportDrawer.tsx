// Imports a base model for the organization (`manage_resources`): from the Hugging Face Hub (or
// its configured mirror) at a revision, from a directory, GGUF file or archive on the server, or
// from an archive of a model directory uploaded from this computer (with its progress).
import { useMutation, useQueryClient } from '@tanstack/react-query';
import { InboxOutlined } from '@ant-design/icons';
import { Button, Drawer, Form, Input, Progress, Select, Upload } from 'antd';
import { useEffect, useState } from 'react';
import { useTranslation } from 'react-i18next';
import { api, unwrap, type Schemas } from '../api/client';
import { ErrorNotice } from '../app/ErrorNotice';
import { useRevalidateOnLanguageChange } from '../app/validation';
import { formatBytes } from '../i18n/format';
import { uploadArchive } from './transfer';

type Kind = 'hub' | 'directory' | 'gguf' | 'archive' | 'upload';
type Fields = { name: string; kind: Kind; repo_id?: string; revision?: string; path?: string };

/** The import request of a source on the Hub or the server (an upload is a form of its own). */
export function importRequest(f: Fields & { kind: Exclude<Kind, 'upload'> }): Schemas['ImportBaseModelRequest'] {
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
  const [file, setFile] = useState<File | null>(null);
  const [sent, setSent] = useState<{ bytes: number; total: number } | null>(null);
  const start = useMutation({
    mutationFn: async (f: Fields) => {
      if (f.kind !== 'upload') return unwrap(await api.POST('/api/v1/base-models/import', { body: importRequest({ ...f, kind: f.kind }) }));
      if (!file) throw new Error(t('models.fileRequired'));
      return uploadArchive(f.name.trim(), file, (bytes, total) => setSent({ bytes, total }));
    },
    onSuccess: async () => {
      await queryClient.invalidateQueries({ queryKey: ['base-models'] });
      setFile(null);
      setSent(null);
      onClose();
    },
  });
  return (
    <Drawer title={t('models.importTitle')} open={open} onClose={onClose} size={480} destroyOnHidden>
      <Form<Fields> form={form} layout="vertical" requiredMark={false} onFinish={(f) => start.mutate(f)}>
        <Form.Item name="kind" label={t('models.source')}>
          <Select options={(['hub', 'upload', 'directory', 'gguf', 'archive'] as const).map((k) => ({ value: k, label: t(`models.sources.${k}`) }))} />
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
        ) : kind === 'upload' ? (
          <Form.Item label={t('models.archiveFile')} extra={t('models.archiveHelp')} required>
            <Upload.Dragger
              accept=".tar,.tgz,.gz,.bz2,.xz,.zip"
              maxCount={1}
              beforeUpload={(f) => {
                setFile(f);
                if (!form.getFieldValue('name')) form.setFieldsValue({ name: f.name.replace(/\.(tar\.(gz|bz2|xz)|tgz|tar|zip)$/i, '') });
                return false;
              }}
              onRemove={() => setFile(null)}
              fileList={file ? [{ uid: 'archive', name: `${file.name} (${formatBytes(file.size)})`, status: 'done' }] : []}
            >
              <p className="ant-upload-drag-icon"><InboxOutlined /></p>
              <p className="ant-upload-text">{t('models.archiveDrop')}</p>
            </Upload.Dragger>
          </Form.Item>
        ) : (
          <Form.Item name="path" label={t('models.path')} extra={t(`models.pathHelp.${kind as Exclude<Kind, 'hub' | 'upload'>}`)} rules={[{ required: true, pattern: /^\//, message: t('models.pathRequired') }]}>
            <Input autoComplete="off" />
          </Form.Item>
        )}
        <Form.Item name="name" label={t('models.name')} rules={[{ required: true, whitespace: true, max: 100, message: t('models.nameRequired') }]}>
          <Input autoComplete="off" />
        </Form.Item>
        {start.isPending && sent && (
          <Progress
            aria-label={t('models.uploading')}
            percent={Math.floor((100 * sent.bytes) / Math.max(sent.total, 1))}
            format={() => t('models.uploaded', { sent: formatBytes(sent.bytes), total: formatBytes(sent.total) })}
            style={{ marginBottom: 16 }}
          />
        )}
        {start.error && <div style={{ marginBottom: 16 }}><ErrorNotice error={start.error} /></div>}
        <Button type="primary" htmlType="submit" loading={start.isPending} block>{t('models.import')}</Button>
      </Form>
    </Drawer>
  );
}
