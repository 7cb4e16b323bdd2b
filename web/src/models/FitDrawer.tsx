// Hardware fit per method: for each device type (a row), whether each training method of a
// model fits at a common setting and the memory a run there needs, in the precision and with
// the optimizer it would use on that device.
import { CheckCircleTwoTone, CloseCircleTwoTone } from '@ant-design/icons';
import { useQueries } from '@tanstack/react-query';
import { Drawer, Table, Tooltip, Typography } from 'antd';
import { useTranslation } from 'react-i18next';
import { api, unwrap } from '../api/client';
import { ErrorNotice } from '../app/ErrorNotice';
import { formatNumber } from '../i18n/format';
import { FIT_SETTING, fitRequest, fitTable, METHODS, type FitRow, type FitSubject, type Method } from './fit';

export function FitDrawer({ subject, name, onClose }: { subject: FitSubject | null; name: string; onClose: () => void }) {
  const { t } = useTranslation();
  const results = useQueries({
    queries: METHODS.map((method) => ({
      queryKey: ['fit', subject, method],
      enabled: subject !== null,
      staleTime: 60_000,
      queryFn: async () => unwrap(await api.POST('/api/v1/estimates', { body: fitRequest(subject as FitSubject, method) })),
    })),
  });
  const estimates: Partial<Record<Method, NonNullable<(typeof results)[number]['data']>>> = {};
  METHODS.forEach((m, i) => {
    const data = results[i]?.data;
    if (data) estimates[m] = data;
  });
  const { devices, rows } = fitTable(estimates);
  const error = results.find((r) => r.error)?.error;
  const gib = (v: number) => `${formatNumber(v, { maximumFractionDigits: 1 })} GiB`;
  return (
    <Drawer title={t('models.fitTitle', { name })} open={subject !== null} onClose={onClose} size="large" destroyOnHidden>
      <Typography.Paragraph type="secondary">
        {t('models.fitSetting', { tokens: formatNumber(FIT_SETTING.sequenceLength), batch: FIT_SETTING.microBatch })}
      </Typography.Paragraph>
      {error && <ErrorNotice error={error} />}
      <Table<{ device: string }>
        size="small"
        rowKey="device"
        pagination={false}
        loading={results.some((r) => r.isPending) && rows.length === 0}
        dataSource={devices.map((device) => ({ device }))}
        columns={[
          { title: t('models.device'), dataIndex: 'device', render: (d: string) => (d === 'cpu' ? t('models.thisCpu') : d) },
          ...rows.map((r: FitRow) => ({
            title: t(`models.methods.${r.method}`),
            key: r.method,
            align: 'center' as const,
            render: (_: unknown, { device }: { device: string }) => {
              const c = r.cells[device];
              if (!c) return '–';
              const label = t(c.fits ? 'models.fits' : 'models.doesNotFit', { need: gib(c.needGib), has: gib(c.memoryGib) });
              return (
                <Tooltip title={label}>
                  <span role="img" aria-label={label} style={{ whiteSpace: 'nowrap' }}>
                    {c.fits ? <CheckCircleTwoTone twoToneColor="#389e0d" /> : <CloseCircleTwoTone twoToneColor="#cf1322" />} {gib(c.needGib)}
                  </span>
                </Tooltip>
              );
            },
          })),
        ]}
      />
    </Drawer>
  );
}
