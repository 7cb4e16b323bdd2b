// What a job's runs measured beside what its estimate said at submission: peak memory of one
// device, tokens per second and seconds per step, with measured ÷ estimated; the compute it
// has used so far and its cost; and the advice drawn from them.
import { Alert, Card, Descriptions, Space, Table, Typography } from 'antd';
import { useTranslation } from 'react-i18next';
import type { Schemas } from '../api/client';
import { formatBytes, formatNumber } from '../i18n/format';

type Job = Schemas['JobView'];
type Row = { key: string; what: string; estimate: string; measured: string; ratio: number | null };

const ratioOf = (measured?: number | null, estimate?: number | null) => (measured != null && estimate ? measured / estimate : null);

export function measuredRows(m: Schemas['Measured'], label: (key: 'memory' | 'speed' | 'stepTime') => string): Row[] {
  const n = (v: number | null | undefined, unit: string, digits: number) => (v == null ? '—' : `${formatNumber(v, { maximumFractionDigits: digits })} ${unit}`);
  const bytes = (v?: number | null) => (v == null ? '—' : formatBytes(v));
  return [
    { key: 'memory', what: label('memory'), estimate: bytes(m.estimated_memory_bytes), measured: bytes(m.peak_memory_bytes), ratio: m.memory_ratio ?? ratioOf(m.peak_memory_bytes, m.estimated_memory_bytes) },
    { key: 'speed', what: label('speed'), estimate: n(m.estimated_tokens_per_second, 'tok/s', 1), measured: n(m.tokens_per_second, 'tok/s', 1), ratio: ratioOf(m.tokens_per_second, m.estimated_tokens_per_second) },
    { key: 'stepTime', what: label('stepTime'), estimate: n(m.estimated_step_time_s, 's', 2), measured: n(m.step_time_s, 's', 2), ratio: ratioOf(m.step_time_s, m.estimated_step_time_s) },
  ];
}

export function MeasuredCard({ job }: { job: Job }) {
  const { t } = useTranslation();
  const m = job.measured;
  return (
    <Card title={t('monitor.measuredTitle')}>
      {m ? (
        <Table<Row>
          size="small"
          pagination={false}
          dataSource={measuredRows(m, (k) => t(`monitor.measured.${k}`))}
          columns={[
            { title: t('monitor.what'), dataIndex: 'what' },
            { title: t('monitor.estimated'), dataIndex: 'estimate' },
            { title: t('monitor.measuredColumn'), dataIndex: 'measured' },
            {
              title: t('monitor.ratio'),
              dataIndex: 'ratio',
              render: (r: number | null) => (r == null ? '—' : `${formatNumber(r, { maximumFractionDigits: 2 })}×`),
            },
          ]}
        />
      ) : (
        <Typography.Text type="secondary">{t('monitor.noMeasurements')}</Typography.Text>
      )}
      {job.cost && (
        <Descriptions size="small" column={{ xs: 1, md: 3 }} style={{ marginTop: 16 }}>
          <Descriptions.Item label={t('monitor.runs')}>{formatNumber(job.cost.runs)}</Descriptions.Item>
          <Descriptions.Item label={t('monitor.deviceHours')}>{formatNumber(job.cost.gpu_hours, { maximumFractionDigits: 3 })}</Descriptions.Item>
          <Descriptions.Item label={t('monitor.costSoFar')}>{formatNumber(job.cost.cost, { maximumFractionDigits: 2 })}</Descriptions.Item>
        </Descriptions>
      )}
      {job.suggestions?.length ? (
        <Space direction="vertical" style={{ width: '100%', marginTop: 16 }}>
          {job.suggestions.map((s) => (
            <Alert key={s.code} type="info" showIcon title={s.message} />
          ))}
        </Space>
      ) : null}
    </Card>
  );
}
