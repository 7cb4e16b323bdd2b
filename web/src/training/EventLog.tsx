// The job's events as they arrive, newest first: search (every word must appear), a filter by
// kind, and a follow switch — paused, the list holds still while events keep arriving.
import { Card, Flex, Input, List, Select, Space, Switch, Typography } from 'antd';
import { useMemo, useState } from 'react';
import { useTranslation } from 'react-i18next';
import { formatDateTime, formatNumber } from '../i18n/format';
import { describeEvent, filterEvents } from './eventLog';
import type { JobEvent } from './events';

const SHOWN = 200;
const KINDS = ['progress', 'eval', 'system', 'checkpoint', 'log', 'state', 'started', 'artifact', 'finished'];

export function EventLog({ events }: { events: JobEvent[] }) {
  const { t } = useTranslation();
  const [text, setText] = useState('');
  const [kinds, setKinds] = useState<string[]>([]);
  const [follow, setFollow] = useState(true);
  const [frozen, setFrozen] = useState<JobEvent[]>([]);
  const source = follow ? events : frozen;
  const matching = useMemo(() => filterEvents(source, { text, kinds }), [source, text, kinds]);
  return (
    <Card title={t('jobs.log')}>
      <Flex gap={12} wrap align="center" style={{ marginBottom: 12 }}>
        <Input.Search allowClear placeholder={t('monitor.searchPlaceholder')} aria-label={t('monitor.search')} style={{ width: 280 }} value={text} onChange={(e) => setText(e.target.value)} />
        <Select
          mode="multiple"
          allowClear
          aria-label={t('monitor.kinds')}
          placeholder={t('monitor.allKinds')}
          style={{ minWidth: 220 }}
          value={kinds}
          onChange={setKinds}
          options={KINDS.map((k) => ({ value: k, label: k }))}
        />
        <Space>
          <Switch
            checked={follow}
            aria-label={t('monitor.follow')}
            onChange={(on) => {
              if (!on) setFrozen(events);
              setFollow(on);
            }}
          />
          <Typography.Text>{t('monitor.follow')}</Typography.Text>
        </Space>
        <Typography.Text type="secondary" data-testid="log-count">
          {t('monitor.shown', { shown: formatNumber(Math.min(matching.length, SHOWN)), matching: formatNumber(matching.length), total: formatNumber(source.length) })}
        </Typography.Text>
      </Flex>
      <List
        size="small"
        dataSource={matching.slice(0, SHOWN)}
        locale={{ emptyText: t('monitor.noEvents') }}
        renderItem={(e) => (
          <List.Item>
            <Flex gap={8} align="baseline">
              <Typography.Text type="secondary" style={{ whiteSpace: 'nowrap' }}>{formatDateTime(e.time_ms)}</Typography.Text>
              <Typography.Text code style={{ whiteSpace: 'nowrap' }}>{e.kind}</Typography.Text>
              <Typography.Text style={{ wordBreak: 'break-word' }}>{describeEvent(e)}</Typography.Text>
            </Flex>
          </List.Item>
        )}
      />
    </Card>
  );
}
