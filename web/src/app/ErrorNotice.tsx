import { Alert, Button } from 'antd';
import { useTranslation } from 'react-i18next';
import { ApiFailure } from '../api/client';

/** A failed load: the server's message (or that it is unreachable) and a retry button. */
export function ErrorNotice({ error, onRetry }: { error: unknown; onRetry?: () => void }) {
  const { t } = useTranslation();
  const message =
    error instanceof ApiFailure ? t('common.error', { message: error.message }) : error instanceof TypeError ? t('common.unreachable') : t('common.error', { message: String(error) });
  return (
    <Alert
      type="error"
      showIcon
      title={message}
      action={onRetry ? <Button size="small" onClick={onRetry}>{t('common.retry')}</Button> : undefined}
    />
  );
}
