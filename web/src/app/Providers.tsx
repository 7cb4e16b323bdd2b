// Server state, Ant Design's locale and theme, following the chosen language; the app and the
// component tests render through the same providers.
import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { App as AntApp, ConfigProvider } from 'antd';
import enUS from 'antd/locale/en_US';
import zhCN from 'antd/locale/zh_CN';
import dayjs from 'dayjs';
import 'dayjs/locale/zh-cn';
import type { ReactNode } from 'react';
import { useTranslation } from 'react-i18next';
import { ApiFailure } from '../api/client';

export function newQueryClient(): QueryClient {
  return new QueryClient({
    defaultOptions: {
      queries: {
        // A refused call (4xx) will not succeed by repeating it.
        retry: (failures, error) => !(error instanceof ApiFailure && error.status < 500) && failures < 2,
        staleTime: 10_000,
      },
    },
  });
}

const reducedMotion = typeof window !== 'undefined' && window.matchMedia('(prefers-reduced-motion: reduce)').matches;

/** Ant Design's defaults, with secondary and hint text (and hovered primary) dark enough for WCAG AA contrast (4.5:1),
 * and no animation for those who asked their system for less motion. */
const THEME = {
  token: {
    motion: !reducedMotion,
    colorPrimary: '#1668dc',
    // Darker, not lighter, under the pointer: white text on a hovered primary (a checked tag,
    // a primary button) keeps its contrast.
    colorPrimaryHover: '#0958d9',
    colorLink: '#1668dc',
    colorError: '#cf1322',
    colorTextTertiary: 'rgba(0, 0, 0, 0.62)',
    colorTextDescription: 'rgba(0, 0, 0, 0.62)',
    colorTextQuaternary: 'rgba(0, 0, 0, 0.56)',
  },
};

export function Providers({ client, children }: { client: QueryClient; children: ReactNode }) {
  const { i18n } = useTranslation();
  const zh = i18n.language === 'zh-CN';
  dayjs.locale(zh ? 'zh-cn' : 'en');
  return (
    // No space inserted between two Chinese characters in buttons: it would change their names.
    <ConfigProvider locale={zh ? zhCN : enUS} button={{ autoInsertSpace: false }} theme={THEME}>
      <AntApp>
        <QueryClientProvider client={client}>{children}</QueryClientProvider>
      </AntApp>
    </ConfigProvider>
  );
}
