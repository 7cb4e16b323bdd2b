import { CloudUploadOutlined } from '@ant-design/icons';
import { Button, Typography } from 'antd';
import { useState } from 'react';
import { useTranslation } from 'react-i18next';
import { Link } from 'react-router';
import { type Schemas } from '../api/client';
import { useDeployments } from '../api/queries';
import { ListPage } from '../app/ListPage';
import { useCan } from '../app/useMe';
import { DeployDrawer } from '../deployments/DeployDrawer';
import { DeploymentState } from '../deployments/DeploymentState';
import { formatUnixTime } from '../i18n/format';

export function Deployments() {
  const { t } = useTranslation();
  const canDeploy = useCan('deploy_model');
  const [deploying, setDeploying] = useState(false);
  const deployments = useDeployments(true, 5_000);
  return (
    <ListPage<Schemas['DeploymentView']>
      title={t('deployments.title')}
      action={canDeploy && <Button type="primary" icon={<CloudUploadOutlined />} onClick={() => setDeploying(true)}>{t('deployments.create')}</Button>}
      query={deployments}
      emptyText={t('deployments.empty')}
      columns={[
        { title: t('deployments.name'), dataIndex: 'name', render: (name: string, d) => <Link to={`/deployments/${d.id}`}>{name}</Link> },
        { title: t('deployments.model'), dataIndex: 'model', render: (m?: string | null) => <Typography.Text code>{m ?? ''}</Typography.Text> },
        { title: t('deployments.state'), dataIndex: 'state', width: 200, render: (s: string) => <DeploymentState state={s} /> },
        { title: t('deployments.created'), dataIndex: 'created_at', width: 200, render: (s: number) => formatUnixTime(s) },
      ]}
    >
      <DeployDrawer open={deploying} onClose={() => setDeploying(false)} />
    </ListPage>
  );
}
