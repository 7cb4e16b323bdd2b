// The projects the caller can see: name, description, visibility, their role; a new project for
// those who may bring work in (`upload_dataset`). Each opens its members and settings.
import { PlusOutlined } from '@ant-design/icons';
import { Button, Tag, Typography } from 'antd';
import { useState } from 'react';
import { useTranslation } from 'react-i18next';
import { Link, useNavigate } from 'react-router';
import type { Schemas } from '../api/client';
import { useProjects } from '../api/queries';
import { ListPage } from '../app/ListPage';
import { useCan } from '../app/useMe';
import { formatUnixTime } from '../i18n/format';
import { ProjectDrawer } from '../projects/ProjectDrawer';

type Project = Schemas['ProjectView'];

export function Projects() {
  const { t } = useTranslation();
  const navigate = useNavigate();
  const projects = useProjects(true, true);
  const mayCreate = useCan('upload_dataset');
  const [creating, setCreating] = useState(false);
  return (
    <ListPage<Project>
      title={t('projects.title')}
      action={mayCreate && <Button type="primary" icon={<PlusOutlined />} onClick={() => setCreating(true)}>{t('projects.create')}</Button>}
      query={projects}
      emptyText={mayCreate ? t('projects.empty') : t('projects.emptyViewer')}
      columns={[
        { title: t('projects.name'), dataIndex: 'name', render: (name: string, p) => <Link to={`/projects/${p.id}`}>{name}</Link> },
        { title: t('projects.description'), dataIndex: 'description', render: (d: string) => <Typography.Text type="secondary" ellipsis={{ tooltip: d }} style={{ maxWidth: 360 }}>{d}</Typography.Text> },
        { title: t('projects.visibility'), dataIndex: 'visibility', render: (v: string) => t(`projects.visibilities.${v}`, { defaultValue: v }) },
        { title: t('projects.myRole'), dataIndex: 'my_role', render: (r?: string | null) => (r ? <Tag>{t(`roles.${r}`, { defaultValue: r })}</Tag> : <Typography.Text type="secondary">{t('projects.notMember')}</Typography.Text>) },
        { title: t('projects.created'), dataIndex: 'created_at', render: (s: number) => formatUnixTime(s) },
      ]}
    >
      <ProjectDrawer open={creating} onClose={() => setCreating(false)} onSaved={(p) => navigate(`/projects/${p.id}`)} />
    </ListPage>
  );
}
