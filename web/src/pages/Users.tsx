// Administration of people: the organization's users (role, disabled) and invitations — invite
// someone by email with a role, copy the link that is shown once, revoke one not yet accepted.
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { Alert, Badge, Button, Card, Form, Input, Popconfirm, Select, Space, Switch, Table, Typography } from 'antd';
import { useState } from 'react';
import { useTranslation } from 'react-i18next';
import { api, unwrap, type Schemas } from '../api/client';
import { everyPage, useUsers } from '../api/queries';
import { ErrorNotice } from '../app/ErrorNotice';
import { useMe } from '../app/useMe';
import { useRevalidateOnLanguageChange } from '../app/validation';
import { formatUnixTime } from '../i18n/format';

type User = Schemas['UserView'];
type Invitation = Schemas['InvitationView'];
type Role = Schemas['CreateInvitationRequest']['role'];

const ROLES: Role[] = ['admin', 'researcher', 'developer', 'viewer'];

function invitationState(i: Invitation, now: number): 'accepted' | 'revoked' | 'expired' | 'pending' {
  if (i.accepted_at) return 'accepted';
  if (i.revoked_at) return 'revoked';
  if (i.expires_at < now) return 'expired';
  return 'pending';
}

function InviteForm({ onInvited }: { onInvited: (link: string, email: string) => void }) {
  const { t } = useTranslation();
  const queryClient = useQueryClient();
  const [form] = Form.useForm<{ email: string; role: Role }>();
  useRevalidateOnLanguageChange(form);
  const invite = useMutation({
    mutationFn: async (body: { email: string; role: Role }) => unwrap(await api.POST('/api/v1/invitations', { body })),
    onSuccess: async (created) => {
      const email = created.email;
      onInvited(`${window.location.origin}/sign-up?invitation=${encodeURIComponent(created.token ?? '')}&email=${encodeURIComponent(email)}`, email);
      form.resetFields();
      await queryClient.invalidateQueries({ queryKey: ['invitations'] });
    },
  });
  return (
    <Form form={form} layout="inline" initialValues={{ role: 'researcher' }} onFinish={(v) => invite.mutate(v)} style={{ rowGap: 8 }}>
      <Form.Item name="email" label={t('users.email')} rules={[{ required: true, type: 'email', message: t('users.emailRequired') }]}>
        <Input type="email" style={{ width: 260 }} autoComplete="off" />
      </Form.Item>
      <Form.Item name="role" label={t('users.role')}>
        <Select style={{ width: 160 }} options={ROLES.map((r) => ({ value: r, label: t(`roles.${r}`) }))} />
      </Form.Item>
      <Form.Item>
        <Button type="primary" htmlType="submit" loading={invite.isPending}>{t('users.invite')}</Button>
      </Form.Item>
      {invite.error && <div style={{ width: '100%', marginTop: 8 }}><ErrorNotice error={invite.error} /></div>}
    </Form>
  );
}

export function Users() {
  const { t } = useTranslation();
  const queryClient = useQueryClient();
  const me = useMe();
  const [link, setLink] = useState<{ url: string; email: string } | null>(null);
  const users = useUsers();
  const invitations = useQuery({
    queryKey: ['invitations'],
    queryFn: async () => everyPage(async (query) => unwrap(await api.GET('/api/v1/invitations', { params: { query } }))),
  });
  const update = useMutation({
    mutationFn: async ({ id, body }: { id: string; body: Schemas['UpdateUserRequest'] }) =>
      unwrap(await api.PATCH('/api/v1/users/{user_id}', { params: { path: { user_id: id } }, body })),
    onSettled: () => queryClient.invalidateQueries({ queryKey: ['users'] }),
  });
  const revoke = useMutation({
    mutationFn: async (id: string) => unwrap(await api.DELETE('/api/v1/invitations/{invitation_id}', { params: { path: { invitation_id: id } } })),
    onSettled: () => queryClient.invalidateQueries({ queryKey: ['invitations'] }),
  });
  const now = Date.now() / 1000;
  const myId = me.data?.user.id;

  return (
    <Space direction="vertical" size="large" style={{ width: '100%' }}>
      <Typography.Title level={1} style={{ fontSize: 24, margin: 0 }}>{t('users.title')}</Typography.Title>
      <Card title={t('users.inviteTitle')}>
        <Typography.Paragraph type="secondary">{t('users.inviteIntro')}</Typography.Paragraph>
        <InviteForm onInvited={(url, email) => setLink({ url, email })} />
        {link && (
          <Alert
            style={{ marginTop: 16 }}
            type="success"
            showIcon
            title={t('users.invited', { email: link.email })}
            description={<Typography.Text copyable={{ text: link.url }} code data-testid="invitation-link">{link.url}</Typography.Text>}
          />
        )}
      </Card>
      {update.error && <ErrorNotice error={update.error} />}
      <Card title={t('users.people')}>
        {users.error ? (
          <ErrorNotice error={users.error} onRetry={() => void users.refetch()} />
        ) : (
          <Table<User>
            rowKey="id"
            size="small"
            loading={users.isPending}
            dataSource={users.data?.data ?? []}
            pagination={false}
            columns={[
              { title: t('users.name'), dataIndex: 'name' },
              { title: t('users.email'), dataIndex: 'email' },
              {
                title: t('users.role'),
                dataIndex: 'role',
                render: (role: string, u) => (
                  <Select<Role>
                    aria-label={t('users.roleOf', { name: u.name })}
                    value={role as Role}
                    disabled={u.id === myId}
                    style={{ width: 150 }}
                    options={ROLES.map((r) => ({ value: r, label: t(`roles.${r}`) }))}
                    onChange={(next) => update.mutate({ id: u.id, body: { role: next } })}
                  />
                ),
              },
              {
                title: t('users.active'),
                dataIndex: 'disabled',
                render: (disabled: boolean, u) =>
                  u.id === myId ? (
                    <Typography.Text type="secondary">{t('users.you')}</Typography.Text>
                  ) : (
                    <Popconfirm
                      title={disabled ? t('users.enableConfirm', { name: u.name }) : t('users.disableConfirm', { name: u.name })}
                      onConfirm={() => update.mutate({ id: u.id, body: { disabled: !disabled } })}
                    >
                      <Switch checked={!disabled} aria-label={t('users.activeOf', { name: u.name })} />
                    </Popconfirm>
                  ),
              },
              { title: t('users.since'), dataIndex: 'created_at', render: (s: number) => formatUnixTime(s) },
            ]}
          />
        )}
      </Card>
      <Card title={t('users.invitations')}>
        {invitations.error ? (
          <ErrorNotice error={invitations.error} onRetry={() => void invitations.refetch()} />
        ) : (
          <Table<Invitation>
            rowKey="id"
            size="small"
            loading={invitations.isPending}
            dataSource={invitations.data?.data ?? []}
            locale={{ emptyText: t('users.noInvitations') }}
            pagination={false}
            columns={[
              { title: t('users.email'), dataIndex: 'email' },
              { title: t('users.role'), dataIndex: 'role', render: (r: string) => t(`roles.${r}`, { defaultValue: r }) },
              {
                title: t('users.state'),
                key: 'state',
                render: (_, i) => {
                  const state = invitationState(i, now);
                  const badge = { accepted: 'success', revoked: 'default', expired: 'default', pending: 'processing' } as const;
                  return <Badge status={badge[state]} text={t(`users.states.${state}`)} />;
                },
              },
              { title: t('users.expires'), dataIndex: 'expires_at', render: (s: number) => formatUnixTime(s) },
              {
                title: '',
                key: 'actions',
                render: (_, i) =>
                  invitationState(i, now) === 'pending' && (
                    <Popconfirm title={t('users.revokeConfirm', { email: i.email })} onConfirm={() => revoke.mutate(i.id)}>
                      <Button size="small" danger>{t('users.revoke')}</Button>
                    </Popconfirm>
                  ),
              },
            ]}
          />
        )}
        {revoke.error && <ErrorNotice error={revoke.error} />}
      </Card>
    </Space>
  );
}
