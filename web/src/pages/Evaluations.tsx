import { PlusOutlined } from '@ant-design/icons';
import { Button, Space, Tooltip, Typography } from 'antd';
import { useState } from 'react';
import { useTranslation } from 'react-i18next';
import { Link, useNavigate } from 'react-router';
import { api, unwrap, type Schemas } from '../api/client';
import { ListPage } from '../app/ListPage';
import { PAGE_SIZE, usePagedList } from '../app/usePagedList';
import { useCan } from '../app/useMe';
import { EvaluationState } from '../evaluations/EvaluationState';
import { NewEvaluationDrawer } from '../evaluations/NewEvaluationDrawer';
import { formatUnixTime } from '../i18n/format';

export function Evaluations() {
  const { t } = useTranslation();
  const canEvaluate = useCan('deploy_model');
  const [creating, setCreating] = useState(false);
  const navigate = useNavigate();
  const [chosen, setChosen] = useState<string[]>([]);
  const mayCompare = chosen.length >= 2 && chosen.length <= 10;
  const evaluations = usePagedList<Schemas['EvaluationView']>(
    ['evaluations', 'pages'],
    async (after) => unwrap(await api.GET('/api/v1/evaluations', { params: { query: { limit: PAGE_SIZE, ...(after ? { after } : {}) } } })),
    { refetchInterval: 5_000 },
  );
  return (
    <ListPage<Schemas['EvaluationView']>
      title={t('evaluations.title')}
      action={
        <Space>
          <Tooltip title={mayCompare ? undefined : t('compare.hint')}>
            <Button disabled={!mayCompare} onClick={() => navigate(`/evaluations/compare?ids=${chosen.map(encodeURIComponent).join(',')}`)}>{t('compare.button')}</Button>
          </Tooltip>
          {canEvaluate && <Button type="primary" icon={<PlusOutlined />} onClick={() => setCreating(true)}>{t('evaluations.create')}</Button>}
        </Space>
      }
      rowSelection={{
        selectedRowKeys: chosen,
        onChange: (keys) => setChosen(keys.map(String)),
        getCheckboxProps: (e) => ({ 'aria-label': t('compare.select', { name: e.name }), disabled: e.state !== 'succeeded' }),
      }}
      query={evaluations}
      emptyText={t('evaluations.empty')}
      columns={[
        { title: t('evaluations.name'), dataIndex: 'name', render: (name: string, e) => <Link to={`/evaluations/${e.id}`}>{name}</Link> },
        { title: t('evaluations.model'), dataIndex: 'model', render: (m?: string | null) => <Typography.Text code>{m ?? ''}</Typography.Text> },
        { title: t('evaluations.state'), dataIndex: 'state', width: 150, render: (s: string) => <EvaluationState state={s} /> },
        { title: t('evaluations.created'), dataIndex: 'created_at', width: 200, render: (s: number) => formatUnixTime(s) },
      ]}
    >
      <NewEvaluationDrawer open={creating} onClose={() => setCreating(false)} />
    </ListPage>
  );
}
