// Form rules matching the server's (the OpenAPI document's RegisterRequest), with messages in
// the current language; the server checks again and its message is shown if it refuses.
import type { TFunction } from 'i18next';
import type { FormInstance, Rule } from 'antd/es/form';
import { useEffect } from 'react';
import { useTranslation } from 'react-i18next';

export const PASSWORD_MIN = 8;

export function emailRules(t: TFunction): Rule[] {
  return [
    { required: true, whitespace: true, message: t('auth.emailRequired') },
    { type: 'email', message: t('auth.emailInvalid') },
  ];
}

export function newPasswordRules(t: TFunction): Rule[] {
  return [
    { required: true, message: t('auth.passwordRequired') },
    { min: PASSWORD_MIN, message: t('auth.passwordTooShort', { min: PASSWORD_MIN }) },
    { max: 256 },
  ];
}

/** Re-checks the fields that show an error when the language changes, so that their messages
 * follow the new language. */
export function useRevalidateOnLanguageChange(form: FormInstance): void {
  const { i18n } = useTranslation();
  useEffect(() => {
    const failing = form.getFieldsError().filter((f) => f.errors.length > 0).map((f) => f.name);
    if (failing.length > 0) form.validateFields(failing).catch(() => undefined);
  }, [i18n.language, form]);
}
