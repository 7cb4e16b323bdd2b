import { Card, Flex, Typography } from 'antd';
import type { ReactNode } from 'react';
import { useTranslation } from 'react-i18next';
import { LanguageSwitch } from './LanguageSwitch';

/** The frame of the signed-out pages: the product's name, a title and the form. */
export function AuthPage({ title, children }: { title: string; children: ReactNode }) {
  const { t } = useTranslation();
  return (
    <main className="auth-page">
      <Card className="auth-card">
        <Flex justify="space-between" align="center" style={{ marginBottom: 8 }}>
          <Typography.Text strong style={{ fontSize: 20 }}>{t('app.name')}</Typography.Text>
          <LanguageSwitch />
        </Flex>
        <Typography.Paragraph type="secondary">{t('app.tagline')}</Typography.Paragraph>
        <Typography.Title level={1} style={{ fontSize: 22, marginTop: 0 }}>{title}</Typography.Title>
        {children}
      </Card>
    </main>
  );
}
