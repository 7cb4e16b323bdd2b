// Human evaluations: each task's mode, models, items, raters and state; a new one for those who
// may deploy models. Each opens its page (rate, results, close).
import { PlusOutlined } from '@ant-design/icons';
import { Badge, Button } from 'antd';
import { useState } from 'react';
import { useTranslation } from 'react-i18next';
import { Link } from 'react-router';
import { api, unwrap, type Schemas } from '../api/client';
import { ListPage } from '../app/ListPage';
import { PAGE_SIZE, usePagedList } from '../app/usePagedList';
import { useCan } from '../app/useMe';
import { NewHumanEvalDrawer } from '../humaneval/NewHumanEvalDrawer';
import { formatNumber, formatUnixTime } from '../i18n/format';

export function HumanEvals() {
  const { t } = useTranslation();
  const mayCreate = useCan('deploy_model');
  const [creating, setCreating] = useState(false);
  const tasks = usePagedList<Schemas['HumanEvalView']>(['human-evals', 'pages'], async (after) =>
    unwrap(await api.GET('/api/v1/human-evals', { params: { query: { limit: PAGE_SIZE, ...(after ? { after } : {}) } } })),
  );
  return (
    <ListPage<Schemas['HumanEvalView']>
      title={t('humanEvals.title')}
      action={mayCreate && <Button type="primary" icon={<PlusOutlined />} onClick={() => setCreating(true)}>{t('humanEvals.create')}</Button>}
      query={tasks}
      emptyText={t('humanEvals.empty')}
      columns={[
        { title: t('humanEvals.name'), dataIndex: 'name', render: (name: string, h) => <Link to={`/human-evals/${h.id}`}>{name}</Link> },
        { title: t('humanEvals.mode'), dataIndex: 'mode', render: (m: string) => t(`humanEvals.modes.${m}`, { defaultValue: m }) },
        { title: t('humanEvals.models'), dataIndex: 'evaluation_ids', render: (ids: string[]) => formatNumber(ids.length) },
        { title: t('humanEvals.items'), dataIndex: 'items', render: (n: number) => formatNumber(n) },
        { title: t('humanEvals.state'), dataIndex: 'state', render: (s: string) => <Badge status={s === 'open' ? 'processing' : 'default'} text={t(`humanEvals.states.${s}`, { defaultValue: s })} /> },
        { title: t('humanEvals.created'), dataIndex: 'created_at', render: (s: number) => formatUnixTime(s) },
      ]}
    >
      <NewHumanEvalDrawer open={creating} onClose={() => setCreating(false)} />
    </ListPage>
  );
}
