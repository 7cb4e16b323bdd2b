import { UploadOutlined } from '@ant-design/icons';
import { Button } from 'antd';
import { useState } from 'react';
import { useTranslation } from 'react-i18next';
import { Link } from 'react-router';
import { api, unwrap, type Schemas } from '../api/client';
import { ListPage } from '../app/ListPage';
import { PAGE_SIZE, usePagedList } from '../app/usePagedList';
import { useCan } from '../app/useMe';
import { UploadDrawer } from '../datasets/UploadDrawer';
import { formatUnixTime } from '../i18n/format';

type Visibility = 'private' | 'project' | 'organization' | 'users';

export function Datasets() {
  const { t } = useTranslation();
  const canUpload = useCan('upload_dataset');
  const [uploading, setUploading] = useState(false);
  const datasets = usePagedList<Schemas['DatasetView']>(['datasets', 'pages'], async (after) =>
    unwrap(await api.GET('/api/v1/datasets', { params: { query: { limit: PAGE_SIZE, ...(after ? { after } : {}) } } })),
  );
  return (
    <ListPage<Schemas['DatasetView']>
      title={t('datasets.title')}
      action={canUpload && <Button type="primary" icon={<UploadOutlined />} onClick={() => setUploading(true)}>{t('datasets.upload')}</Button>}
      query={datasets}
      emptyText={t('datasets.empty')}
      columns={[
        { title: t('datasets.name'), dataIndex: 'name', render: (name: string, d) => <Link to={`/datasets/${d.id}`}>{name}</Link> },
        { title: t('datasets.latestVersion'), dataIndex: 'latest_version', width: 140 },
        { title: t('datasets.visibility'), dataIndex: 'visibility', width: 160, render: (v: Visibility) => t(`datasets.visibilities.${v}`) },
        { title: t('datasets.updated'), dataIndex: 'updated_at', width: 220, render: (s: number) => formatUnixTime(s) },
      ]}
    >
      <UploadDrawer open={uploading} onClose={() => setUploading(false)} />
    </ListPage>
  );
}
