// The recipe builder: the cleaning steps a user ticks (exact and near duplicates, filters,
// personal data, a validation split), sent as one recipe that makes a new version of the
// dataset; then the operation's progress and, when done, what each step kept and dropped.
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { Alert, Button, Checkbox, Drawer, Form, Input, InputNumber, Progress, Select, Space, Table, Typography } from 'antd';
import { useEffect } from 'react';
import { useTranslation } from 'react-i18next';
import { api, unwrap, type Schemas } from '../api/client';
import { ErrorNotice } from '../app/ErrorNotice';
import { formatNumber } from '../i18n/format';
import { buildRecipe, CLEAN_DEFAULTS, LANGUAGES, PII_KINDS, type CleanChoices } from './recipe';

type Operation = Schemas['OperationView'];
type StepReport = Schemas['StepReport'];

function OperationProgress({ datasetId, operationId, onDone }: { datasetId: string; operationId: string; onDone: (op: Operation) => void }) {
  const { t } = useTranslation();
  const op = useQuery({
    queryKey: ['datasets', datasetId, 'operations', operationId],
    queryFn: async () =>
      unwrap(await api.GET('/api/v1/datasets/{dataset_id}/operations/{operation_id}', { params: { path: { dataset_id: datasetId, operation_id: operationId } } })),
    refetchInterval: (query) => (query.state.data?.status === 'running' || query.state.data === undefined ? 1000 : false),
  });
  const status = op.data?.status;
  useEffect(() => {
    if (op.data && status !== 'running') onDone(op.data);
    // once per status change: the operation ends once
  }, [status]);
  if (op.error) return <ErrorNotice error={op.error} onRetry={() => void op.refetch()} />;
  const data = op.data;
  if (!data || data.status === 'running') {
    const percent = Math.floor(100 * (data?.progress?.fraction ?? 0));
    return <Progress percent={percent} aria-label={t('clean.running')} status="active" />;
  }
  if (data.status === 'failed') return <Alert type="error" showIcon title={t('clean.failed', { message: data.error ?? '' })} />;
  const report = data.report;
  return (
    <Space direction="vertical" style={{ width: '100%' }}>
      <Alert
        type="success"
        showIcon
        title={t('clean.done', { out: formatNumber(report?.records_out ?? 0), in: formatNumber(report?.records_in ?? 0) })}
        description={report && report.invalid_input > 0 ? t('clean.invalidDropped', { n: formatNumber(report.invalid_input) }) : undefined}
      />
      {report && report.validation_out > 0 && <Typography.Text>{t('clean.validationMade', { n: formatNumber(report.validation_out) })}</Typography.Text>}
      <Table<StepReport>
        rowKey="index"
        size="small"
        pagination={false}
        dataSource={report?.steps ?? []}
        columns={[
          { title: t('clean.step'), dataIndex: 'step', render: (s: string) => t(`clean.steps.${s}`, { defaultValue: s }) },
          { title: t('clean.in'), dataIndex: 'records_in', align: 'right', render: (n: number) => formatNumber(n) },
          { title: t('clean.kept'), dataIndex: 'kept', align: 'right', render: (n: number) => formatNumber(n) },
          { title: t('clean.dropped'), dataIndex: 'dropped', align: 'right', render: (n: number) => formatNumber(n) },
          { title: t('clean.modified'), dataIndex: 'modified', align: 'right', render: (n: number) => formatNumber(n) },
        ]}
      />
    </Space>
  );
}

export function CleanDrawer({ datasetId, version, open, onClose, onMade }: { datasetId: string; version: number; open: boolean; onClose: () => void; onMade: () => void }) {
  const { t } = useTranslation();
  const queryClient = useQueryClient();
  const [form] = Form.useForm<CleanChoices>();
  const choices = Form.useWatch([], form) ?? CLEAN_DEFAULTS;
  const start = useMutation({
    mutationFn: async (c: CleanChoices) =>
      unwrap(
        await api.POST('/api/v1/datasets/{dataset_id}/versions/{version}/preprocess', {
          params: { path: { dataset_id: datasetId, version } },
          body: { recipe: buildRecipe(c) },
        }),
      ),
  });
  const finished = async (op: Operation) => {
    if (op.status !== 'completed') return;
    await queryClient.invalidateQueries({ queryKey: ['datasets'] });
    onMade();
  };
  const close = () => {
    start.reset();
    onClose();
  };

  return (
    <Drawer title={t('clean.title', { version })} open={open} onClose={close} size="large" destroyOnHidden>
      <Form<CleanChoices> form={form} layout="vertical" initialValues={CLEAN_DEFAULTS} onFinish={(c) => start.mutate(c)} disabled={start.isPending || start.isSuccess}>
        <Typography.Paragraph type="secondary">{t('clean.intro')}</Typography.Paragraph>
        <Form.Item name="dedupExact" valuePropName="checked" style={{ marginBottom: 4 }}>
          <Checkbox>{t('clean.dedupExact')}</Checkbox>
        </Form.Item>
        {choices.dedupExact && (
          <Form.Item name="normalize" valuePropName="checked" style={{ marginLeft: 24 }}>
            <Checkbox>{t('clean.normalize')}</Checkbox>
          </Form.Item>
        )}
        <Form.Item name="dedupNear" valuePropName="checked" style={{ marginBottom: 4 }}>
          <Checkbox>{t('clean.dedupNear')}</Checkbox>
        </Form.Item>
        {choices.dedupNear && (
          <Form.Item name="threshold" label={t('clean.threshold')} help={t('clean.thresholdHelp')} style={{ marginLeft: 24 }}>
            <InputNumber min={0.5} max={1} step={0.05} />
          </Form.Item>
        )}
        <Form.Item name="filter" valuePropName="checked" style={{ marginBottom: 4 }}>
          <Checkbox>{t('clean.filter')}</Checkbox>
        </Form.Item>
        {choices.filter && (
          <div style={{ marginLeft: 24 }}>
            <Space wrap>
              <Form.Item name="minChars" label={t('clean.minChars')}><InputNumber min={0} /></Form.Item>
              <Form.Item name="maxChars" label={t('clean.maxChars')}><InputNumber min={1} /></Form.Item>
              <Form.Item name="minTurns" label={t('clean.minTurns')}><InputNumber min={0} /></Form.Item>
              <Form.Item name="maxTurns" label={t('clean.maxTurns')}><InputNumber min={1} /></Form.Item>
            </Space>
            <Form.Item name="excludeRegex" label={t('clean.excludeRegex')} help={t('clean.excludeRegexHelp')}>
              <Input allowClear />
            </Form.Item>
            <Form.Item name="languages" label={t('clean.languages')}>
              <Select mode="multiple" allowClear options={LANGUAGES.map((l) => ({ value: l, label: t(`clean.language.${l}`) }))} placeholder={t('clean.anyLanguage')} />
            </Form.Item>
          </div>
        )}
        <Form.Item name="maskPii" valuePropName="checked" style={{ marginBottom: 4 }}>
          <Checkbox>{t('clean.maskPii')}</Checkbox>
        </Form.Item>
        {choices.maskPii && (
          <Form.Item name="piiKinds" label={t('clean.piiKinds')} rules={[{ type: 'array', min: 1, message: t('clean.piiKindsRequired') }]} style={{ marginLeft: 24 }}>
            <Select mode="multiple" options={PII_KINDS.map((k) => ({ value: k, label: t(`clean.pii.${k}`) }))} />
          </Form.Item>
        )}
        <Form.Item name="split" valuePropName="checked" style={{ marginBottom: 4 }}>
          <Checkbox>{t('clean.split')}</Checkbox>
        </Form.Item>
        {choices.split && (
          <Form.Item name="validationPercent" label={t('clean.validationPercent')} style={{ marginLeft: 24 }}>
            <InputNumber min={1} max={50} suffix="%" />
          </Form.Item>
        )}
        <Typography.Paragraph type="secondary">{t('clean.invalidNote')}</Typography.Paragraph>
        {start.error && <div style={{ marginBottom: 16 }}><ErrorNotice error={start.error} /></div>}
        {!start.isSuccess && (
          <Button type="primary" htmlType="submit" loading={start.isPending}>{t('clean.submit')}</Button>
        )}
      </Form>
      {start.data && <OperationProgress datasetId={datasetId} operationId={start.data.id} onDone={(op) => void finished(op)} />}
    </Drawer>
  );
}
