// The upload form: a dropped or chosen file, the new dataset's name, and the progress of the
// parts, of a retry after a network drop, and of the server's validation.
import { InboxOutlined } from '@ant-design/icons';
import { useMutation, useQueryClient } from '@tanstack/react-query';
import { Button, Drawer, Form, Input, Progress, Typography, Upload } from 'antd';
import { useState } from 'react';
import { useTranslation } from 'react-i18next';
import { useNavigate } from 'react-router';
import { ErrorNotice } from '../app/ErrorNotice';
import { useRevalidateOnLanguageChange } from '../app/validation';
import { formatBytes } from '../i18n/format';
import { uploadFile, type UploadProgress } from './upload';

type Fields = { name: string };

export function UploadDrawer({ open, onClose }: { open: boolean; onClose: () => void }) {
  const { t } = useTranslation();
  const navigate = useNavigate();
  const queryClient = useQueryClient();
  const [form] = Form.useForm<Fields>();
  useRevalidateOnLanguageChange(form);
  const [file, setFile] = useState<File | null>(null);
  const [fileMissing, setFileMissing] = useState(false);
  const [progress, setProgress] = useState<UploadProgress | null>(null);
  const send = useMutation({
    mutationFn: ({ name }: Fields) => uploadFile(file as File, { name }, setProgress),
    onSuccess: async (done) => {
      await queryClient.invalidateQueries({ queryKey: ['datasets'] });
      if (done.dataset_id) navigate(`/datasets/${done.dataset_id}`);
    },
  });

  const percent =
    progress === null ? 0 : progress.phase === 'processing' ? Math.floor((100 * progress.processedBytes) / Math.max(progress.totalBytes, 1)) : Math.floor((100 * progress.sentBytes) / Math.max(progress.totalBytes, 1));
  const status =
    progress === null
      ? ''
      : progress.phase === 'sending'
        ? t('datasets.sending', { sent: formatBytes(progress.sentBytes), total: formatBytes(progress.totalBytes) })
        : progress.phase === 'retrying'
          ? t('datasets.retrying', { seconds: progress.waitSeconds, attempt: progress.attempt })
          : t('datasets.processing', { processed: formatBytes(progress.processedBytes), total: formatBytes(progress.totalBytes) });

  return (
    <Drawer title={t('datasets.upload')} open={open} onClose={onClose} size={480} destroyOnHidden>
      <Form<Fields>
        form={form}
        layout="vertical"
        requiredMark={false}
        onFinish={(f) => (file ? send.mutate(f) : setFileMissing(true))}
        onFinishFailed={() => setFileMissing(file === null)}
      >
        <Form.Item label={t('datasets.file')} validateStatus={fileMissing ? 'error' : undefined} help={fileMissing ? t('datasets.fileRequired') : undefined}>
          <Upload.Dragger
            multiple={false}
            maxCount={1}
            disabled={send.isPending}
            beforeUpload={(f) => {
              setFile(f);
              setFileMissing(false);
              if (!form.getFieldValue('name')) form.setFieldValue('name', f.name.replace(/\.[^.]+$/, ''));
              return false;
            }}
            onRemove={() => setFile(null)}
            fileList={file ? [{ uid: 'file', name: `${file.name} (${formatBytes(file.size)})`, status: 'done' }] : []}
          >
            <p className="ant-upload-drag-icon"><InboxOutlined /></p>
            <p className="ant-upload-text">{t('datasets.drop')}</p>
            <p className="ant-upload-hint">{t('datasets.dropHint')}</p>
          </Upload.Dragger>
        </Form.Item>
        <Form.Item label={t('datasets.name')} name="name" rules={[{ required: true, whitespace: true, message: t('datasets.nameRequired') }, { max: 100 }]}>
          <Input disabled={send.isPending} />
        </Form.Item>
        {progress && (
          <div style={{ marginBottom: 16 }} data-testid="upload-progress">
            <Progress aria-label={t('datasets.file')} percent={percent} status={send.isError ? 'exception' : progress.phase === 'retrying' ? 'normal' : 'active'} />
            <Typography.Text type={progress.phase === 'retrying' ? 'warning' : 'secondary'} role="status">{status}</Typography.Text>
          </div>
        )}
        {send.error && <div style={{ marginBottom: 16 }}><ErrorNotice error={send.error} /></div>}
        <Button type="primary" htmlType="submit" loading={send.isPending} block>{t('datasets.send')}</Button>
      </Form>
    </Drawer>
  );
}
