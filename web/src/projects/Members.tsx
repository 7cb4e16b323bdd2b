// A project's members by name and email, with their project roles. Those who manage the project
// add a colleague by the email they sign in with, change a role, or remove someone (confirmed);
// the server refuses a role beyond the caller's own and says which permission is missing.
import { UserAddOutlined } from '@ant-design/icons';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { Button, Card, Form, Input, Popconfirm, Select, Table, Typography } from 'antd';
import { useTranslation } from 'react-i18next';
import { api, unwrap, type Schemas } from '../api/client';
import { ErrorNotice } from '../app/ErrorNotice';
import { useRevalidateOnLanguageChange } from '../app/validation';
import { formatUnixTime } from '../i18n/format';

type Member = Schemas['MemberView'];
type Role = Schemas['AddMemberRequest']['role'];
const ROLES: Role[] = ['admin', 'researcher', 'developer', 'viewer'];

function AddMember({ projectId }: { projectId: string }) {
  const { t } = useTranslation();
  const queryClient = useQueryClient();
  const [form] = Form.useForm<{ email: string; role: Role }>();
  useRevalidateOnLanguageChange(form);
  const add = useMutation({
    mutationFn: async (body: { email: string; role: Role }) =>
      unwrap(await api.POST('/api/v1/projects/{project_id}/members', { params: { path: { project_id: projectId } }, body })),
    onSuccess: async () => {
      form.resetFields();
      await queryClient.invalidateQueries({ queryKey: ['project-members', projectId] });
    },
  });
  return (
    <Form form={form} layout="inline" initialValues={{ role: 'researcher' }} onFinish={(v) => add.mutate({ ...v, email: v.email.trim() })} style={{ rowGap: 8, marginBottom: 16 }}>
      <Form.Item name="email" label={t('projects.memberEmail')} rules={[{ required: true, type: 'email', message: t('users.emailRequired') }]}>
        <Input type="email" style={{ width: 260 }} autoComplete="off" />
      </Form.Item>
      <Form.Item name="role" label={t('projects.role')}>
        <Select style={{ width: 160 }} options={ROLES.map((r) => ({ value: r, label: t(`roles.${r}`) }))} />
      </Form.Item>
      <Form.Item>
        <Button type="primary" htmlType="submit" icon={<UserAddOutlined />} loading={add.isPending}>{t('projects.addMember')}</Button>
      </Form.Item>
      {add.error && <div style={{ width: '100%' }}><ErrorNotice error={add.error} /></div>}
    </Form>
  );
}

export function Members({ projectId, mayManage, myId }: { projectId: string; mayManage: boolean; myId?: string }) {
  const { t } = useTranslation();
  const queryClient = useQueryClient();
  const members = useQuery({
    queryKey: ['project-members', projectId],
    queryFn: async () => unwrap(await api.GET('/api/v1/projects/{project_id}/members', { params: { path: { project_id: projectId } } })),
  });
  const done = async () => {
    await queryClient.invalidateQueries({ queryKey: ['project-members', projectId] });
    await queryClient.invalidateQueries({ queryKey: ['project', projectId] });
  };
  const setRole = useMutation({
    mutationFn: async ({ userId, role }: { userId: string; role: Role }) =>
      unwrap(await api.PATCH('/api/v1/projects/{project_id}/members/{user_id}', { params: { path: { project_id: projectId, user_id: userId } }, body: { role } })),
    onSettled: done,
  });
  const remove = useMutation({
    mutationFn: async (userId: string) =>
      unwrap(await api.DELETE('/api/v1/projects/{project_id}/members/{user_id}', { params: { path: { project_id: projectId, user_id: userId } } })),
    onSettled: done,
  });
  return (
    <Card title={t('projects.members')}>
      {mayManage ? <AddMember projectId={projectId} /> : <Typography.Paragraph type="secondary">{t('projects.membersReadOnly')}</Typography.Paragraph>}
      {(setRole.error ?? remove.error) && <div style={{ marginBottom: 16 }}><ErrorNotice error={setRole.error ?? remove.error} /></div>}
      {members.error ? (
        <ErrorNotice error={members.error} onRetry={() => void members.refetch()} />
      ) : (
        <Table<Member>
          rowKey="user_id"
          size="small"
          loading={members.isPending}
          dataSource={members.data?.data ?? []}
          pagination={false}
          locale={{ emptyText: t('projects.noMembers') }}
          columns={[
            { title: t('projects.memberName'), dataIndex: 'name', render: (name: string, m) => (m.user_id === myId ? t('projects.nameYou', { name }) : name) },
            { title: t('projects.memberEmail'), dataIndex: 'email' },
            {
              title: t('projects.role'),
              dataIndex: 'role',
              render: (role: string, m) =>
                mayManage ? (
                  <Select<Role>
                    aria-label={t('projects.roleOf', { name: m.name })}
                    value={role as Role}
                    style={{ width: 150 }}
                    options={ROLES.map((r) => ({ value: r, label: t(`roles.${r}`) }))}
                    onChange={(next) => setRole.mutate({ userId: m.user_id, role: next })}
                  />
                ) : (
                  t(`roles.${role}`, { defaultValue: role })
                ),
            },
            { title: t('projects.added'), dataIndex: 'added_at', render: (s: number) => formatUnixTime(s) },
            ...(mayManage
              ? [
                  {
                    title: t('projects.actions'),
                    key: 'actions',
                    render: (_: unknown, m: Member) => (
                      <Popconfirm title={t('projects.removeConfirm', { name: m.name })} onConfirm={() => remove.mutate(m.user_id)}>
                        <Button size="small" danger aria-label={t('projects.removeOf', { name: m.name })}>{t('projects.remove')}</Button>
                      </Popconfirm>
                    ),
                  },
                ]
              : []),
          ]}
        />
      )}
    </Card>
  );
}
