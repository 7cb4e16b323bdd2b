// The organization's content policy for every request through the gateway: limits on input and
// answer length, and rules (words, patterns or personal data; block, mask or flag) edited as
// JSON and checked by the server, which names the field it refuses; then what the rules did
// lately (never the matched text).
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { Alert, Button, Card, Input, Space, Table, Tag, Typography } from 'antd';
import { useEffect, useState } from 'react';
import { useTranslation } from 'react-i18next';
import { api, unwrap, type Schemas } from '../api/client';
import { ErrorNotice } from '../app/ErrorNotice';
import { formatUnixTime } from '../i18n/format';

export function ContentPolicyCard({ mayEdit }: { mayEdit: boolean }) {
  const { t } = useTranslation();
  const queryClient = useQueryClient();
  const policy = useQuery({ queryKey: ['safety-policy'], queryFn: async () => unwrap(await api.GET('/api/v1/safety/policy')) });
  const events = useQuery({ queryKey: ['safety-events'], queryFn: async () => unwrap(await api.GET('/api/v1/safety/events', { params: { query: { limit: 20 } } })) });
  const [text, setText] = useState('');
  const [parseError, setParseError] = useState<string | null>(null);
  useEffect(() => {
    if (policy.data) setText(JSON.stringify(policy.data.policy, null, 2));
  }, [policy.data]);
  const save = useMutation({
    mutationFn: async (body: Schemas['ContentPolicy']) => unwrap(await api.PUT('/api/v1/safety/policy', { body })),
    onSuccess: (v) => queryClient.setQueryData(['safety-policy'], v),
  });
  const submit = () => {
    try {
      const body = JSON.parse(text) as Schemas['ContentPolicy'];
      setParseError(null);
      save.mutate(body);
    } catch (e) {
      setParseError((e as Error).message);
    }
  };
  const p = policy.data?.policy;
  return (
    <Card title={t('organization.safety')}>
      {policy.error ? (
        <ErrorNotice error={policy.error} onRetry={() => void policy.refetch()} />
      ) : (
        <Space direction="vertical" style={{ width: '100%' }}>
          <Typography.Paragraph type="secondary">{t('organization.safetyIntro')}</Typography.Paragraph>
          {p && (
            <Space wrap data-testid="policy-summary">
              <Tag>{t('organization.maxInput', { n: p.max_input_chars ?? '—' })}</Tag>
              <Tag>{t('organization.maxOutput', { n: p.max_output_chars ?? '—' })}</Tag>
              {(p.rules ?? []).map((r) => <Tag key={r.name} color={r.action === 'block' ? 'red' : r.action === 'mask' ? 'orange' : 'blue'}>{`${r.name}: ${r.action}`}</Tag>)}
              {p.moderation && <Tag>{t('organization.moderation')}</Tag>}
            </Space>
          )}
          {policy.data?.updated_at && <Typography.Text type="secondary">{t('organization.updated', { when: formatUnixTime(policy.data.updated_at) })}</Typography.Text>}
          <Input.TextArea
            aria-label={t('organization.policyJson')}
            value={text}
            readOnly={!mayEdit}
            onChange={(e) => setText(e.target.value)}
            autoSize={{ minRows: 6, maxRows: 24 }}
            style={{ fontFamily: 'monospace' }}
          />
          {parseError && <Alert type="error" showIcon title={t('organization.notJson', { message: parseError })} />}
          {save.error && <ErrorNotice error={save.error} />}
          {save.isSuccess && !save.isPending && <Alert type="success" showIcon title={t('organization.policySaved')} />}
          {mayEdit && <Button type="primary" onClick={submit} loading={save.isPending}>{t('organization.savePolicy')}</Button>}
          <Typography.Title level={2} style={{ fontSize: 16 }}>{t('organization.events')}</Typography.Title>
          {events.error ? (
            <ErrorNotice error={events.error} onRetry={() => void events.refetch()} />
          ) : (
            <Table<Schemas['SafetyEventView']>
              size="small"
              rowKey="id"
              pagination={false}
              loading={events.isPending}
              dataSource={events.data?.data ?? []}
              locale={{ emptyText: t('organization.noEvents') }}
              columns={[
                { title: t('organization.when'), dataIndex: 'created_at', render: (s: number) => formatUnixTime(s) },
                { title: t('organization.rule'), dataIndex: 'rule' },
                { title: t('organization.action'), dataIndex: 'action' },
                { title: t('organization.stage'), dataIndex: 'stage' },
                { title: t('organization.matches'), dataIndex: 'matches' },
                { title: t('organization.request'), dataIndex: 'request_id', render: (id: string) => <Typography.Text code>{id}</Typography.Text> },
              ]}
            />
          )}
        </Space>
      )}
    </Card>
  );
}
