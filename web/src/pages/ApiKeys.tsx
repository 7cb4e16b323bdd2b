// The caller's API keys: create one (its secret is shown once, ready to copy, with how to use
// it), see each key's scopes, limits, last use and state, and revoke one with confirmation.
import { KeyOutlined } from '@ant-design/icons';
import { useMutation, useQueryClient } from '@tanstack/react-query';
import { Alert, Badge, Button, Popconfirm, Space, Tag, Typography } from 'antd';
import { useState } from 'react';
import { useTranslation } from 'react-i18next';
import { api, unwrap, type Schemas } from '../api/client';
import { CreateKeyDrawer } from '../apikeys/CreateKeyDrawer';
import { keyState } from '../apikeys/keyState';
import { ErrorNotice } from '../app/ErrorNotice';
import { ListPage } from '../app/ListPage';
import { PAGE_SIZE, usePagedList } from '../app/usePagedList';
import { formatNumber, formatUnixTime } from '../i18n/format';

type Key = Schemas['ApiKeyView'];

function Limits({ limits }: { limits: Schemas['KeyLimits'] }) {
  const { t } = useTranslation();
  const parts = [
    limits.requests_per_minute != null && t('keys.perMinute', { n: formatNumber(limits.requests_per_minute), what: t('keys.requestsUnit') }),
    limits.tokens_per_minute != null && t('keys.perMinute', { n: formatNumber(limits.tokens_per_minute), what: t('keys.tokensUnit') }),
    limits.monthly_tokens != null && t('keys.perMonth', { n: formatNumber(limits.monthly_tokens) }),
    limits.deployment_ids?.length && t('keys.onlyDeployments', { n: limits.deployment_ids.length }),
  ].filter(Boolean);
  return <Typography.Text type={parts.length ? undefined : 'secondary'}>{parts.length ? parts.join(' · ') : t('keys.noLimits')}</Typography.Text>;
}

export function ApiKeys() {
  const { t } = useTranslation();
  const queryClient = useQueryClient();
  const [creating, setCreating] = useState(false);
  const [created, setCreated] = useState<Key | null>(null);
  const keys = usePagedList<Key>(['api-keys', 'pages'], async (after) =>
    unwrap(await api.GET('/api/v1/api-keys', { params: { query: { limit: PAGE_SIZE, ...(after ? { after } : {}) } } })),
  );
  const revoke = useMutation({
    mutationFn: async (id: string) => unwrap(await api.DELETE('/api/v1/api-keys/{key_id}', { params: { path: { key_id: id } } })),
    onSettled: () => queryClient.invalidateQueries({ queryKey: ['api-keys'] }),
  });
  const now = Date.now() / 1000;
  return (
    <ListPage<Key>
      title={t('keys.title')}
      action={<Button type="primary" icon={<KeyOutlined />} onClick={() => setCreating(true)}>{t('keys.create')}</Button>}
      query={keys}
      emptyText={t('keys.empty')}
      columns={[
        { title: t('keys.name'), dataIndex: 'name' },
        { title: t('keys.key'), dataIndex: 'prefix', render: (prefix: string) => <Typography.Text code>{`tk_${prefix}_…`}</Typography.Text> },
        {
          title: t('keys.scopes'),
          dataIndex: 'scopes',
          render: (scopes: string[]) => <Space size={[0, 4]} wrap>{scopes.map((s) => <Tag key={s}>{t(`permissions.${s}`, { defaultValue: s })}</Tag>)}</Space>,
        },
        { title: t('keys.limits'), dataIndex: 'limits', render: (l: Schemas['KeyLimits']) => <Limits limits={l} /> },
        { title: t('keys.lastUsed'), dataIndex: 'last_used_at', render: (s?: number | null) => (s ? formatUnixTime(s) : t('keys.never')) },
        { title: t('keys.expires'), dataIndex: 'expires_at', render: (s?: number | null) => (s ? formatUnixTime(s) : t('keys.never')) },
        {
          title: t('keys.state'),
          key: 'state',
          render: (_, k) => {
            const state = keyState(k, now);
            return <Badge status={state === 'active' ? 'success' : 'default'} text={t(`keys.states.${state}`)} />;
          },
        },
        {
          title: '',
          key: 'actions',
          render: (_, k) =>
            keyState(k, now) === 'active' && (
              <Popconfirm title={t('keys.revokeConfirm', { name: k.name })} onConfirm={() => revoke.mutate(k.id)} okText={t('keys.revoke')} okButtonProps={{ danger: true }}>
                <Button size="small" danger>{t('keys.revoke')}</Button>
              </Popconfirm>
            ),
        },
      ]}
      above={
        created?.key && (
          <Alert
            style={{ marginBottom: 16 }}
            type="success"
            showIcon
            closable={{ onClose: () => setCreated(null) }}
            title={t('keys.created', { name: created.name })}
            description={
              <>
                <Typography.Paragraph>{t('keys.shownOnce')}</Typography.Paragraph>
                <Typography.Text copyable={{ text: created.key }} code data-testid="api-key-secret">{created.key}</Typography.Text>
              </>
            }
          />
        )
      }
    >
      {revoke.error && <ErrorNotice error={revoke.error} />}
      <CreateKeyDrawer open={creating} onClose={() => setCreating(false)} onCreated={(k) => { setCreating(false); setCreated(k); }} />
    </ListPage>
  );
}
