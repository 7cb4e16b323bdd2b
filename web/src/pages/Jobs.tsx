import { PlusOutlined } from '@ant-design/icons';
import { Button, Progress, Space, Tooltip } from 'antd';
import { useState } from 'react';
import { useTranslation } from 'react-i18next';
import { Link, useNavigate } from 'react-router';
import { api, unwrap, type Schemas } from '../api/client';
import { ListPage } from '../app/ListPage';
import { PAGE_SIZE, usePagedList } from '../app/usePagedList';
import { useCan } from '../app/useMe';
import { formatNumber, formatUnixTime } from '../i18n/format';
import { JobStateTag } from '../training/JobStateTag';

export function Jobs() {
  const { t } = useTranslation();
  const canTrain = useCan('train_model');
  const navigate = useNavigate();
  const [chosen, setChosen] = useState<string[]>([]);
  const mayCompare = chosen.length >= 2 && chosen.length <= 10;
  const jobs = usePagedList<Schemas['JobView']>(
    ['jobs', 'pages'],
    async (after) => unwrap(await api.GET('/api/v1/jobs', { params: { query: { limit: PAGE_SIZE, ...(after ? { after } : {}) } } })),
    { refetchInterval: 5_000 },
  );
  return (
    <ListPage<Schemas['JobView']>
      title={t('jobs.title')}
      action={
        <Space>
          <Tooltip title={mayCompare ? undefined : t('monitor.compareHint')}>
            <Button disabled={!mayCompare} onClick={() => navigate(`/jobs/compare?ids=${chosen.map(encodeURIComponent).join(',')}`)}>
              {t('monitor.compare')}
            </Button>
          </Tooltip>
          {canTrain && (
            <Link to="/jobs/new">
              <Button type="primary" icon={<PlusOutlined />}>{t('jobs.create')}</Button>
            </Link>
          )}
        </Space>
      }
      rowSelection={{
        selectedRowKeys: chosen,
        onChange: (keys) => setChosen(keys.map(String)),
        getCheckboxProps: (j) => ({ 'aria-label': t('monitor.selectJob', { name: j.name }) }),
      }}
      query={jobs}
      emptyText={t('jobs.empty')}
      columns={[
        { title: t('jobs.name'), dataIndex: 'name', render: (name: string, j) => <Link to={`/jobs/${j.id}`}>{name}</Link> },
        { title: t('jobs.state'), dataIndex: 'state', width: 130, render: (s: string) => <JobStateTag state={s} /> },
        {
          title: t('jobs.progress'),
          width: 200,
          render: (_, j) => <Progress aria-label={t('jobs.progress')} percent={j.total_steps ? Math.floor((100 * j.current_step) / j.total_steps) : 0} size="small" />,
        },
        { title: t('jobs.loss'), dataIndex: 'latest_loss', width: 110, render: (l?: number | null) => (l == null ? '' : formatNumber(l, { maximumFractionDigits: 4 })) },
        { title: t('jobs.created'), dataIndex: 'created_at', width: 200, render: (s: number) => formatUnixTime(s) },
      ]}
    />
  );
}
