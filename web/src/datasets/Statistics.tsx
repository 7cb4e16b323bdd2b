// A version's statistics: records, tokens, duplicates and how many would be truncated, with
// histograms of characters, tokens and turns per record and the language mix.
import { useQuery } from '@tanstack/react-query';
import { Col, Row, Skeleton, Statistic, Typography } from 'antd';
import { useTranslation } from 'react-i18next';
import { api, unwrap } from '../api/client';
import { ErrorNotice } from '../app/ErrorNotice';
import { formatNumber } from '../i18n/format';
import { BarChart } from './BarChart';
import { bars } from './histogram';

export function Statistics({ datasetId, version }: { datasetId: string; version: number }) {
  const { t } = useTranslation();
  const stats = useQuery({
    queryKey: ['datasets', datasetId, 'versions', version, 'stats'],
    queryFn: async () => unwrap(await api.GET('/api/v1/datasets/{dataset_id}/versions/{version}/stats', { params: { path: { dataset_id: datasetId, version } } })),
  });
  if (stats.isPending) return <Skeleton active />;
  if (stats.error) return <ErrorNotice error={stats.error} onRetry={() => void stats.refetch()} />;
  const s = stats.data.stats;
  const n = (v: number) => formatNumber(v);
  const tokens = s.tokens;
  const languages = (['zh', 'en', 'other', 'none'] as const).map((l) => ({ label: t(`datasets.languages.${l}`), count: s.languages[l] }));
  const kinds = (['chat', 'preference', 'text'] as const).filter((k) => s.kinds[k] > 0).map((k) => t('datasets.kindCount', { kind: t(`datasets.kinds.${k}`), n: n(s.kinds[k]) }));
  return (
    <Row gutter={[16, 16]}>
      <Col xs={12} md={6}><Statistic title={t('datasets.valid')} value={n(s.valid_rows)} /></Col>
      <Col xs={12} md={6}><Statistic title={t('datasets.tokens')} value={tokens ? n(tokens.total) : '–'} /></Col>
      <Col xs={12} md={6}><Statistic title={t('datasets.duplicates')} value={s.duplicates != null ? n(s.duplicates) : '–'} /></Col>
      <Col xs={12} md={6}>
        <Statistic
          title={tokens?.max_tokens ? t('datasets.overMax', { n: n(tokens.max_tokens) }) : t('datasets.overMaxShare')}
          value={tokens ? formatNumber(tokens.over_max_tokens_share, { style: 'percent', maximumFractionDigits: 1 }) : '–'}
        />
      </Col>
      <Col xs={24}><Typography.Text type="secondary">{kinds.join(' · ')}</Typography.Text></Col>
      <Col xs={24} lg={12}>
        <Typography.Text strong>{t('datasets.charsChart')}</Typography.Text>
        <BarChart label={t('datasets.charsChart')} bars={bars(s.chars, n)} />
      </Col>
      {tokens && (
        <Col xs={24} lg={12}>
          <Typography.Text strong>{t('datasets.tokensChart')}</Typography.Text>
          <BarChart label={t('datasets.tokensChart')} bars={bars(tokens.per_record, n)} />
        </Col>
      )}
      {s.kinds.chat > 0 && (
        <Col xs={24} lg={12}>
          <Typography.Text strong>{t('datasets.turnsChart')}</Typography.Text>
          <BarChart label={t('datasets.turnsChart')} bars={bars(s.turns, n)} />
        </Col>
      )}
      <Col xs={24} lg={12}>
        <Typography.Text strong>{t('datasets.languagesChart')}</Typography.Text>
        <BarChart label={t('datasets.languagesChart')} bars={languages} />
      </Col>
    </Row>
  );
}
