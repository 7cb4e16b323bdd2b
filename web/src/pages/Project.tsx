// One project: what it is, who may see it, the caller's role and permissions in it, its members,
// its configuration templates of fine-tuning jobs, and — for those who manage it — its settings
// and deletion (refused while it holds datasets).
import { DeleteOutlined, SettingOutlined } from '@ant-design/icons';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { Button, Card, Descriptions, Popconfirm, Skeleton, Space, Tag, Typography } from 'antd';
import { useState } from 'react';
import { useTranslation } from 'react-i18next';
import { useNavigate, useParams } from 'react-router';
import { api, unwrap } from '../api/client';
import { ErrorNotice } from '../app/ErrorNotice';
import { PageHeader } from '../app/PageHeader';
import { useMe } from '../app/useMe';
import { formatUnixTime } from '../i18n/format';
import { Members } from '../projects/Members';
import { ProjectDrawer } from '../projects/ProjectDrawer';
import { Templates } from '../projects/Templates';

export function Project() {
  const { t } = useTranslation();
  const { projectId = '' } = useParams();
  const navigate = useNavigate();
  const queryClient = useQueryClient();
  const me = useMe();
  const [editing, setEditing] = useState(false);
  const project = useQuery({
    queryKey: ['project', projectId],
    queryFn: async () => unwrap(await api.GET('/api/v1/projects/{project_id}', { params: { path: { project_id: projectId } } })),
  });
  const remove = useMutation({
    mutationFn: async () => unwrap(await api.DELETE('/api/v1/projects/{project_id}', { params: { path: { project_id: projectId } } })),
    onSuccess: async () => {
      await queryClient.invalidateQueries({ queryKey: ['projects'] });
      await queryClient.invalidateQueries({ queryKey: ['me'] });
      navigate('/projects');
    },
  });
  if (project.isPending) return <Skeleton active />;
  if (project.error) return <ErrorNotice error={project.error} onRetry={() => void project.refetch()} />;
  const p = project.data;
  const mayManage = p.my_permissions.includes('manage_resources');
  return (
    <Space direction="vertical" size="large" style={{ width: '100%' }}>
      <PageHeader
        back={{ to: '/projects', label: t('projects.back') }}
        title={p.name}
        actions={
          mayManage && (
            <Space>
              <Button icon={<SettingOutlined />} onClick={() => setEditing(true)}>{t('projects.settings')}</Button>
              <Popconfirm title={t('projects.deleteConfirm', { name: p.name })} onConfirm={() => remove.mutate()} okButtonProps={{ danger: true }}>
                <Button danger icon={<DeleteOutlined />} loading={remove.isPending}>{t('projects.delete')}</Button>
              </Popconfirm>
            </Space>
          )
        }
      />
      {remove.error && <ErrorNotice error={remove.error} />}
      <Card>
        <Descriptions column={{ xs: 1, md: 2 }} size="small">
          <Descriptions.Item label={t('projects.description')}>{p.description || <Typography.Text type="secondary">{t('projects.noDescription')}</Typography.Text>}</Descriptions.Item>
          <Descriptions.Item label={t('projects.visibility')}>{t(`projects.visibilities.${p.visibility}`, { defaultValue: p.visibility })}</Descriptions.Item>
          <Descriptions.Item label={t('projects.myRole')}>{p.my_role ? t(`roles.${p.my_role}`, { defaultValue: p.my_role }) : t('projects.notMember')}</Descriptions.Item>
          <Descriptions.Item label={t('projects.created')}>{formatUnixTime(p.created_at)}</Descriptions.Item>
          <Descriptions.Item label={t('projects.myPermissions')} span={2}>
            <Space size={[0, 4]} wrap>{p.my_permissions.map((perm) => <Tag key={perm}>{t(`permissions.${perm}`, { defaultValue: perm })}</Tag>)}</Space>
          </Descriptions.Item>
        </Descriptions>
      </Card>
      <Members projectId={p.id} mayManage={mayManage} myId={me.data?.user.id} />
      <Templates projectId={p.id} mayTrain={p.my_permissions.includes('train_model')} />
      <ProjectDrawer open={editing} project={p} onClose={() => setEditing(false)} onSaved={() => setEditing(false)} />
    </Space>
  );
}
