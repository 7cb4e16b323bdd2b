// Sign-up: the first-run administrator on a fresh install, an invited user (the invitation's
// link carries ?invitation=TOKEN&email=…), or anyone when registration is open.
import { useMutation, useQueryClient } from '@tanstack/react-query';
import { Alert, Button, Form, Input, Spin, Typography } from 'antd';
import { useTranslation } from 'react-i18next';
import { Link, useNavigate, useSearchParams } from 'react-router';
import { api, unwrap } from '../api/client';
import { useRegistration } from '../api/queries';
import { storeTokens } from '../api/session';
import { AuthPage } from '../app/AuthPage';
import { ErrorNotice } from '../app/ErrorNotice';
import { useRevalidateOnLanguageChange, emailRules, newPasswordRules } from '../app/validation';

type Fields = { name: string; email: string; password: string; confirm: string; invitation_token?: string };

export function SignUp() {
  const { t } = useTranslation();
  const navigate = useNavigate();
  const queryClient = useQueryClient();
  const [params] = useSearchParams();
  const [form] = Form.useForm<Fields>();
  useRevalidateOnLanguageChange(form);
  const registration = useRegistration();
  const signUp = useMutation({
    mutationFn: async ({ name, email, password, invitation_token }: Fields) => {
      const token = invitation_token?.trim() || null;
      unwrap(await api.POST('/api/v1/auth/register', { body: { name, email, password, invitation_token: token } }));
      return unwrap(await api.POST('/api/v1/auth/login', { body: { email, password } }));
    },
    onSuccess: async (tokens) => {
      storeTokens(tokens);
      await queryClient.invalidateQueries({ queryKey: ['registration'] });
      navigate('/', { replace: true });
    },
  });

  if (registration.isPending) return <AuthPage title={t('auth.signUp')}><Spin aria-label={t('common.loading')} /></AuthPage>;
  if (registration.error) return <AuthPage title={t('auth.signUp')}><ErrorNotice error={registration.error} onRetry={() => void registration.refetch()} /></AuthPage>;
  const { first_run: firstRun, open_registration: open } = registration.data;
  const invitation = params.get('invitation') ?? undefined;
  const needsInvitation = !firstRun && !open;
  return (
    <AuthPage title={firstRun ? t('auth.firstRunTitle') : invitation ? t('auth.invitedTitle') : needsInvitation ? t('auth.closedTitle') : t('auth.signUp')}>
      {firstRun && <Alert type="info" showIcon title={t('auth.firstRunIntro')} style={{ marginBottom: 16 }} />}
      {needsInvitation && !invitation && <Alert type="warning" showIcon title={t('auth.closedIntro')} style={{ marginBottom: 16 }} />}
      {signUp.error && <div style={{ marginBottom: 16 }}><ErrorNotice error={signUp.error} /></div>}
      <Form<Fields>
        form={form}
        layout="vertical"
        requiredMark={false}
        initialValues={{ email: params.get('email') ?? '', invitation_token: invitation }}
        onFinish={(f) => signUp.mutate(f)}
      >
        <Form.Item label={t('auth.name')} name="name" rules={[{ required: true, whitespace: true, message: t('auth.nameRequired') }, { max: 100 }]}>
          <Input autoComplete="name" autoFocus />
        </Form.Item>
        <Form.Item label={t('auth.email')} name="email" rules={emailRules(t)}>
          <Input type="email" autoComplete="email" />
        </Form.Item>
        <Form.Item label={t('auth.password')} name="password" rules={newPasswordRules(t)}>
          <Input.Password autoComplete="new-password" />
        </Form.Item>
        <Form.Item
          label={t('auth.passwordConfirm')}
          name="confirm"
          dependencies={['password']}
          rules={[
            { required: true, message: t('auth.passwordRequired') },
            ({ getFieldValue }) => ({
              validator: (_, v) => (v === getFieldValue('password') ? Promise.resolve() : Promise.reject(new Error(t('auth.passwordMismatch')))),
            }),
          ]}
        >
          <Input.Password autoComplete="new-password" />
        </Form.Item>
        {!firstRun && (
          <Form.Item
            label={t('auth.invitation')}
            name="invitation_token"
            extra={t('auth.invitationHelp')}
            rules={needsInvitation ? [{ required: true, whitespace: true, message: t('auth.closedIntro') }] : []}
          >
            <Input autoComplete="off" />
          </Form.Item>
        )}
        <Button type="primary" htmlType="submit" block loading={signUp.isPending}>
          {firstRun ? t('auth.createAdmin') : t('auth.signUp')}
        </Button>
      </Form>
      {!firstRun && (
        <Typography.Paragraph style={{ marginTop: 16, marginBottom: 0 }}>
          {t('auth.haveAccount')} <Link to="/sign-in">{t('auth.signIn')}</Link>
        </Typography.Paragraph>
      )}
    </AuthPage>
  );
}
