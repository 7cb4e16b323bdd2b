import { BranchesOutlined, CloudUploadOutlined } from '@ant-design/icons';
import { useQuery } from '@tanstack/react-query';
import { Badge, Button, Card, Space, Table, Typography } from 'antd';
import { useState } from 'react';
import { useTranslation } from 'react-i18next';
import { Link } from 'react-router';
import { api, unwrap, type Schemas } from '../api/client';
import { everyPage, useDeployments } from '../api/queries';
import { ListPage } from '../app/ListPage';
import { useCan } from '../app/useMe';
import { DeployDrawer } from '../deployments/DeployDrawer';
import { DeploymentState } from '../deployments/DeploymentState';
import { SplitDrawer } from '../deployments/SplitDrawer';
import { ErrorNotice } from '../app/ErrorNotice';
import { formatUnixTime } from '../i18n/format';

export function Deployments() {
  const { t } = useTranslation();
  const canDeploy = useCan('deploy_model');
  const [deploying, setDeploying] = useState(false);
  const [splitting, setSplitting] = useState(false);
  const deployments = useDeployments(true, 5_000);
  const splits = useQuery({
    queryKey: ['traffic-splits'],
    queryFn: async () => everyPage(async (query) => unwrap(await api.GET('/api/v1/traffic-splits', { params: { query } }))),
  });
  const nameOf = (id: string) => deployments.data?.data.find((d) => d.id === id)?.name ?? id;
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
      <Card
        style={{ marginTop: 24 }}
        title={t('splits.title')}
        extra={canDeploy && <Button icon={<BranchesOutlined />} onClick={() => setSplitting(true)}>{t('splits.create')}</Button>}
      >
        <Typography.Paragraph type="secondary">{t('splits.intro')}</Typography.Paragraph>
        {splits.error ? (
          <ErrorNotice error={splits.error} onRetry={() => void splits.refetch()} />
        ) : (
          <Table<Schemas['SplitView']>
            size="small"
            rowKey="id"
            pagination={false}
            loading={splits.isPending}
            dataSource={splits.data?.data ?? []}
            locale={{ emptyText: t('splits.empty') }}
            columns={[
              { title: t('splits.name'), dataIndex: 'name', render: (name: string, s) => <Link to={`/traffic-splits/${s.id}`}>{name}</Link> },
              {
                title: t('splits.variants'),
                dataIndex: 'variants',
                render: (v: Schemas['Variant'][]) => <Space wrap>{v.map((x) => `${nameOf(x.deployment_id)} ×${x.weight}`).join(' · ')}</Space>,
              },
              { title: t('splits.sticky'), dataIndex: 'sticky', render: (s: Schemas['Sticky']) => t(`splits.stickies.${s}`) },
              { title: t('splits.active'), dataIndex: 'active', render: (a: boolean) => <Badge status={a ? 'processing' : 'default'} text={a ? t('splits.activeOn') : t('splits.activeOff')} /> },
            ]}
          />
        )}
      </Card>
      <SplitDrawer open={splitting} onClose={() => setSplitting(false)} />
    </ListPage>
  );
}
