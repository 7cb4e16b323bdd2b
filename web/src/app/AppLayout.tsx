// The signed-in frame: navigation, language switch, the user's menu and the page.
import { AppstoreOutlined, AuditOutlined, BarChartOutlined, ClusterOutlined, CloudServerOutlined, DashboardOutlined, DatabaseOutlined, ExperimentOutlined, KeyOutlined, LikeOutlined, LogoutOutlined, ProjectOutlined, SettingOutlined, TeamOutlined, UserOutlined } from '@ant-design/icons';
import { Button, Dropdown, Layout, Menu, Space, Spin, Typography } from 'antd';
import { Suspense, useEffect } from 'react';
import { useTranslation } from 'react-i18next';
import { Outlet, useLocation, useNavigate } from 'react-router';
import { api } from '../api/client';
import { clearSession, onSessionEnd } from '../api/session';
import { LanguageSwitch } from './LanguageSwitch';
import { useCan, useMe } from './useMe';

export function AppLayout() {
  const { t } = useTranslation();
  const navigate = useNavigate();
  const location = useLocation();
  const me = useMe();
  const mayManageUsers = useCan('manage_users');
  const maySeeMetrics = useCan('view_metrics');

  useEffect(
    () => onSessionEnd(() => navigate(`/sign-in?expired=1&next=${encodeURIComponent(location.pathname)}`, { replace: true })),
    [navigate, location.pathname],
  );

  const signOut = async () => {
    await api.POST('/api/v1/auth/logout').catch(() => undefined);
    clearSession();
  };

  const items = [
    { key: '/', icon: <DashboardOutlined />, label: t('nav.dashboard') },
    { key: '/projects', icon: <ProjectOutlined />, label: t('nav.projects') },
    { key: '/datasets', icon: <DatabaseOutlined />, label: t('nav.datasets') },
    { key: '/models', icon: <AppstoreOutlined />, label: t('nav.models') },
    { key: '/jobs', icon: <ExperimentOutlined />, label: t('nav.jobs') },
    { key: '/evaluations', icon: <BarChartOutlined />, label: t('nav.evaluations') },
    { key: '/human-evals', icon: <LikeOutlined />, label: t('nav.humanEvals') },
    { key: '/deployments', icon: <CloudServerOutlined />, label: t('nav.deployments') },
    { key: '/api-keys', icon: <KeyOutlined />, label: t('nav.keys') },
    ...(maySeeMetrics ? [{ key: '/admin/resources', icon: <ClusterOutlined />, label: t('nav.resources') }] : []),
    ...(mayManageUsers
      ? [
          { key: '/admin/users', icon: <TeamOutlined />, label: t('nav.users') },
          { key: '/admin/audit', icon: <AuditOutlined />, label: t('nav.audit') },
          { key: '/admin/organization', icon: <SettingOutlined />, label: t('nav.organization') },
        ]
      : []),
  ];
  const selected = items.filter((i) => i.key === '/' ? location.pathname === '/' : location.pathname.startsWith(i.key)).map((i) => i.key);

  return (
    <Layout style={{ minHeight: '100vh' }}>
      <a className="skip-link" href="#content">{t('nav.skip')}</a>
      <Layout.Sider breakpoint="lg" collapsedWidth={64} theme="light" style={{ borderRight: '1px solid #f0f0f0' }}>
        <div style={{ padding: '16px 20px', fontWeight: 700, fontSize: 18 }}>{t('app.name')}</div>
        <nav aria-label={t('nav.main')}>
          <Menu mode="inline" selectedKeys={selected} items={items} onClick={({ key }) => navigate(key)} style={{ borderInlineEnd: 0 }} />
        </nav>
      </Layout.Sider>
      <Layout>
        <Layout.Header style={{ background: '#fff', display: 'flex', justifyContent: 'flex-end', alignItems: 'center', gap: 16, borderBottom: '1px solid #f0f0f0' }}>
          <LanguageSwitch />
          <Dropdown
            menu={{ items: [{ key: 'sign-out', icon: <LogoutOutlined />, label: t('auth.signOut'), onClick: () => void signOut() }] }}
            trigger={['click']}
          >
            <Button type="text" icon={<UserOutlined />} data-testid="user-menu">
              <Space>
                <Typography.Text>{me.data?.user.name ?? ''}</Typography.Text>
              </Space>
            </Button>
          </Dropdown>
        </Layout.Header>
        <Layout.Content id="content" style={{ padding: 24 }}>
          <Suspense fallback={<Spin aria-label={t('common.loading')} />}>
            <Outlet />
          </Suspense>
        </Layout.Content>
      </Layout>
    </Layout>
  );
}
