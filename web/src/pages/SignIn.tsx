import { useMutation } from '@tanstack/react-query';
import { Alert, Button, Form, Input, Typography } from 'antd';
import { useTranslation } from 'react-i18next';
import { Link, Navigate, useNavigate, useSearchParams } from 'react-router';
import { api, unwrap } from '../api/client';
import { useRegistration } from '../api/queries';
import { storeTokens } from '../api/session';
import { AuthPage } from '../app/AuthPage';
import { ErrorNotice } from '../app/ErrorNotice';
import { useRevalidateOnLanguageChange, emailRules } from '../app/validation';

type Fields = { email: string; password: string };

/** Where to go after signing in: a path on this site only, never another origin. */
export function safeNext(next: string | null): string {
  return next && next.startsWith('/') && !next.startsWith('//') ? next : '/';
}

export function SignIn() {
  const { t } = useTranslation();
  const navigate = useNavigate();
  const [params] = useSearchParams();
  const [form] = Form.useForm<Fields>();
  useRevalidateOnLanguageChange(form);
  const registration = useRegistration();
  const signIn = useMutation({
    mutationFn: async (f: Fields) => unwrap(await api.POST('/api/v1/auth/login', { body: f })),
    onSuccess: (tokens) => {
      storeTokens(tokens);
      navigate(safeNext(params.get('next')), { replace: true });
    },
  });
  if (registration.data?.first_run) return <Navigate to="/sign-up" replace />;
  return (
    <AuthPage title={t('auth.signIn')}>
      {params.get('expired') && <Alert type="info" showIcon title={t('auth.sessionExpired')} style={{ marginBottom: 16 }} />}
      {signIn.error && <div style={{ marginBottom: 16 }}><ErrorNotice error={signIn.error} /></div>}
      <Form<Fields>
        form={form} layout="vertical" requiredMark={false} onFinish={(f) => signIn.mutate(f)}>
        <Form.Item label={t('auth.email')} name="email" rules={emailRules(t)}>
          <Input type="email" autoComplete="username" autoFocus />
        </Form.Item>
        <Form.Item label={t('auth.password')} name="password" rules={[{ required: true, message: t('auth.passwordRequired') }]}>
          <Input.Password autoComplete="current-password" />
        </Form.Item>
        <Button type="primary" htmlType="submit" block loading={signIn.isPending}>{t('auth.signIn')}</Button>
      </Form>
      {registration.data?.open_registration !== false && (
        <Typography.Paragraph style={{ marginTop: 16, marginBottom: 0 }}>
          {t('auth.noAccount')} <Link to="/sign-up">{t('auth.signUp')}</Link>
        </Typography.Paragraph>
      )}
    </AuthPage>
  );
}
