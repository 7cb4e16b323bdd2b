// A new fine-tune: the project it belongs to and, there, a configuration template to start from;
// data, base model, objective and method, the two hyperparameters that matter most (each
// explained), the resources (device type and count, priority, spot, a time limit), the estimate
// of memory, time and cost on those resources with the month's quotas against it, then
// submission — or the choices saved as a template of the project.
import { useMutation, useQuery } from '@tanstack/react-query';
import { SaveOutlined } from '@ant-design/icons';
import { Alert, Button, Card, Col, Descriptions, Divider, Form, InputNumber, Progress, Radio, Row, Select, Space, Switch, Typography } from 'antd';
import { useEffect, useState } from 'react';
import { useTranslation } from 'react-i18next';
import { useNavigate, useSearchParams } from 'react-router';
import { api, unwrap } from '../api/client';
import { useBaseModels, useCluster, useDatasets, useJobTemplates, useProjects, useQuotas } from '../api/queries';
import { ErrorNotice } from '../app/ErrorNotice';
import { useCan, useMe } from '../app/useMe';
import { useRevalidateOnLanguageChange } from '../app/validation';
import { DEFAULT_FIELDS, fieldsOfTemplate, jobSubmission, templateBody, trainingConfig, type JobFields, type JobTemplate } from '../training/jobForm';
import { quotaCheck } from '../training/quotaCheck';
import { SaveTemplateModal } from '../training/SaveTemplateModal';
import { formatDuration, formatNumber } from '../i18n/format';

/** The estimate for the form's current choices, asked again half a second after a change. */
function useEstimate(f: JobFields | null, applied: JobTemplate | undefined) {
  const [debounced, setDebounced] = useState(f);
  useEffect(() => {
    const timer = setTimeout(() => setDebounced(f), 500);
    return () => clearTimeout(timer);
  }, [JSON.stringify(f)]); // eslint-disable-line react-hooks/exhaustive-deps
  return useQuery({
    queryKey: ['estimate', debounced, applied?.id],
    enabled: Boolean(debounced?.dataset_id && debounced.base_model_id),
    // The last estimate stays while the next is asked, instead of a blank card.
    placeholderData: (previous) => previous,
    queryFn: async () =>
      unwrap(
        await api.POST('/api/v1/estimates', {
          body: {
            base_model_id: debounced?.base_model_id,
            dataset_id: debounced?.dataset_id,
            config: trainingConfig(debounced as JobFields, applied?.config),
            device_type: debounced?.gpu_type || null,
            gpus: debounced?.gpus || null,
          },
        }),
      ),
  });
}

export function NewJob() {
  const { t } = useTranslation();
  const navigate = useNavigate();
  const [search] = useSearchParams();
  const [form] = Form.useForm<JobFields>();
  useRevalidateOnLanguageChange(form);
  const values = Form.useWatch([], form) as JobFields | undefined;
  const datasets = useDatasets();
  const models = useBaseModels();
  const projects = useProjects();
  const projectId = values?.project_id || null;
  const project = (projects.data?.data ?? []).find((p) => p.id === projectId);
  const templates = useJobTemplates(projectId);
  // The template applied last: its settings beyond the form's fields go with the job.
  const [applied, setApplied] = useState<JobTemplate | undefined>();
  const [saving, setSaving] = useState(false);
  const [savedName, setSavedName] = useState<string | null>(null);
  const estimate = useEstimate(values ?? null, applied);
  const submit = useMutation({
    mutationFn: async (f: JobFields) => unwrap(await api.POST('/api/v1/jobs', { body: jobSubmission(f, applied) })),
    onSuccess: (job) => navigate(`/jobs/${job.id}`),
  });
  const apply = (id: string | undefined) => {
    const chosen = (templates.data?.data ?? []).find((x) => x.id === id);
    setApplied(chosen);
    if (chosen) form.setFieldsValue(fieldsOfTemplate(chosen));
  };
  // A link may name the project and a template of it (the project page's "Use").
  const wanted = search.get('template');
  useEffect(() => {
    const p = search.get('project');
    if (p && !form.getFieldValue('project_id')) form.setFieldsValue({ project_id: p });
  }, [search, form]);
  useEffect(() => {
    if (wanted && !applied && templates.data) apply(wanted);
  }, [wanted, templates.data]); // eslint-disable-line react-hooks/exhaustive-deps
  const ready = (models.data?.data ?? []).filter((m) => m.status === 'ready');
  const est = estimate.data;
  const fit = est?.selected;
  const maySeeCluster = useCan('view_metrics');
  const me = useMe();
  const cluster = useCluster(maySeeCluster);
  const quotas = useQuotas(undefined, maySeeCluster);
  const deviceTypes = [...new Set((cluster.data?.nodes ?? []).map((n) => n.gpu_type))];
  const checks =
    fit && me.data
      ? quotaCheck(quotas.data?.data ?? [], { userId: me.data.user.id, organizationId: me.data.organization.id }, { gpuHours: fit.gpu_hours, cost: fit.cost })
      : [];
  const mayTrainInProject = (project?.my_permissions ?? []).includes('train_model');

  return (
    <>
      <Typography.Title level={1} style={{ fontSize: 24 }}>{t('jobs.create')}</Typography.Title>
      <Row gutter={24}>
        <Col xs={24} lg={14}>
          <Card>
            <Form<JobFields>
              form={form}
              layout="vertical"
              requiredMark={false}
              initialValues={DEFAULT_FIELDS}
              onFinish={(f) => submit.mutate(f)}
            >
              <Row gutter={16}>
                <Col xs={24} md={12}>
                  <Form.Item label={t('jobs.project')} name="project_id" extra={t('jobs.projectHelp')}>
                    <Select
                      loading={projects.isPending}
                      onChange={() => setApplied(undefined)}
                      options={[
                        { value: '', label: t('jobs.noProject') },
                        ...(projects.data?.data ?? []).filter((p) => p.my_permissions.includes('train_model')).map((p) => ({ value: p.id, label: p.name })),
                      ]}
                    />
                  </Form.Item>
                </Col>
                <Col xs={24} md={12}>
                  <Form.Item label={t('templates.startFrom')} extra={projectId ? t('templates.startFromHelp') : t('templates.needsProject')}>
                    <Select
                      aria-label={t('templates.startFrom')}
                      allowClear
                      disabled={!projectId}
                      loading={templates.isFetching}
                      value={applied?.id}
                      onChange={(id?: string) => apply(id)}
                      placeholder={t('templates.none')}
                      notFoundContent={t('templates.empty')}
                      options={(templates.data?.data ?? []).map((x) => ({ value: x.id, label: x.name }))}
                    />
                  </Form.Item>
                </Col>
              </Row>
              {applied && (
                <Alert
                  type="info"
                  showIcon
                  style={{ marginBottom: 16 }}
                  title={t('templates.applied', { name: applied.name })}
                  description={applied.description || undefined}
                />
              )}
              {savedName && <Alert type="success" showIcon closable onClose={() => setSavedName(null)} style={{ marginBottom: 16 }} title={t('templates.saved', { name: savedName })} />}
              <Form.Item label={t('jobs.dataset')} name="dataset_id" extra={t('jobs.datasetHelp')} rules={[{ required: true, message: t('jobs.required') }]}>
                <Select loading={datasets.isPending} options={(datasets.data?.data ?? []).map((d) => ({ value: d.id, label: d.name }))} />
              </Form.Item>
              <Form.Item label={t('jobs.baseModel')} name="base_model_id" extra={t('jobs.baseModelHelp')} rules={[{ required: true, message: t('jobs.required') }]}>
                <Select loading={models.isPending} options={ready.map((m) => ({ value: m.id, label: m.name }))} />
              </Form.Item>
              <Form.Item label={t('jobs.objective')} name="objective" extra={t('jobs.objectiveHelp')}>
                <Radio.Group optionType="button" options={['sft', 'cpt', 'dpo'].map((o) => ({ value: o, label: o.toUpperCase() }))} />
              </Form.Item>
              <Form.Item label={t('jobs.method')} name="method" extra={t('jobs.methodHelp')}>
                <Radio.Group
                  optionType="button"
                  options={[
                    { value: 'lora', label: 'LoRA' },
                    { value: 'qlora', label: 'QLoRA' },
                    { value: 'dora', label: 'DoRA' },
                    { value: 'freeze', label: 'Freeze' },
                    { value: 'full', label: 'Full' },
                  ]}
                />
              </Form.Item>
              <Row gutter={16}>
                <Col span={12}>
                  <Form.Item label={t('jobs.maxSteps')} name="max_steps" extra={t('jobs.maxStepsHelp')}>
                    <InputNumber min={1} style={{ width: '100%' }} />
                  </Form.Item>
                </Col>
                <Col span={12}>
                  <Form.Item
                    label={t('jobs.learningRate')}
                    name="learning_rate"
                    extra={t('jobs.learningRateHelp')}
                    rules={[
                      { required: true, message: t('jobs.required') },
                      { validator: (_, v: number) => (v > 0 ? Promise.resolve() : Promise.reject(new Error(t('jobs.learningRatePositive')))) },
                    ]}
                  >
                    <InputNumber min={0} max={1} step={0.0001} style={{ width: '100%' }} />
                  </Form.Item>
                </Col>
              </Row>
              <Divider titlePlacement="start">{t('jobs.resources')}</Divider>
              <Row gutter={16}>
                <Col xs={24} md={12}>
                  <Form.Item label={t('jobs.deviceType')} name="gpu_type" extra={t('jobs.deviceTypeHelp')}>
                    <Select options={[{ value: '', label: t('jobs.anyDevice') }, ...deviceTypes.map((d) => ({ value: d, label: d === 'cpu' ? t('jobs.cpuSlots') : d }))]} />
                  </Form.Item>
                </Col>
                <Col xs={24} md={12}>
                  <Form.Item label={t('jobs.deviceCount')} name="gpus" extra={t('jobs.deviceCountHelp')}>
                    <InputNumber min={1} max={1024} precision={0} style={{ width: '100%' }} />
                  </Form.Item>
                </Col>
                <Col xs={24} md={12}>
                  <Form.Item label={t('jobs.priority')} name="priority" extra={t('jobs.priorityHelp')}>
                    <Select options={[{ value: '', label: t('jobs.defaultPriority') }, ...(cluster.data?.priority_classes ?? []).map((c) => ({ value: c.name, label: c.name }))]} />
                  </Form.Item>
                </Col>
                <Col xs={24} md={12}>
                  <Form.Item label={t('jobs.maxHours')} name="max_hours" extra={t('jobs.maxHoursHelp')}>
                    <InputNumber min={0.01} max={8760} style={{ width: '100%' }} />
                  </Form.Item>
                </Col>
              </Row>
              <Form.Item label={t('jobs.spot')} name="preemptible" valuePropName="checked" extra={t('jobs.spotHelp')}>
                <Switch />
              </Form.Item>
              {submit.error && <div style={{ marginBottom: 16 }}><ErrorNotice error={submit.error} /></div>}
              <Space wrap>
                <Button type="primary" htmlType="submit" loading={submit.isPending}>{t('jobs.submit')}</Button>
                <Button icon={<SaveOutlined />} disabled={!projectId || !mayTrainInProject} onClick={() => setSaving(true)} title={projectId ? undefined : t('templates.needsProject')}>
                  {t('templates.saveAs')}
                </Button>
              </Space>
            </Form>
          </Card>
        </Col>
        <Col xs={24} lg={10}>
          <Card title={t('jobs.estimate')} loading={estimate.isFetching && !estimate.data}>
            {estimate.error ? (
              <ErrorNotice error={estimate.error} />
            ) : est && fit ? (
              <>
                <Alert
                  type={fit.fits ? 'success' : 'error'}
                  showIcon
                  title={fit.fits ? t('jobs.fits', { device: fit.device }) : t('jobs.doesNotFit', { device: fit.device })}
                  style={{ marginBottom: 16 }}
                />
                <Descriptions column={1} size="small">
                  <Descriptions.Item label={t('jobs.memory')}>
                    {t('jobs.memoryOf', {
                      need: formatNumber(est.memory.total_gib, { maximumFractionDigits: 2 }),
                      have: formatNumber(fit.memory_gib, { maximumFractionDigits: 1 }),
                    })}
                  </Descriptions.Item>
                  <Descriptions.Item label={t('jobs.precision')}>{est.precision}</Descriptions.Item>
                  <Descriptions.Item label={t('jobs.time')}>{formatDuration(fit.seconds)}</Descriptions.Item>
                  <Descriptions.Item label={t('jobs.cost')}>{formatNumber(fit.cost, { maximumFractionDigits: 2 })}</Descriptions.Item>
                  <Descriptions.Item label={t('jobs.deviceHours')}>{formatNumber(fit.gpu_hours, { maximumFractionDigits: 3 })}</Descriptions.Item>
                </Descriptions>
                <Divider titlePlacement="start">{t('jobs.quotaCheck')}</Divider>
                {checks.length === 0 ? (
                  <Typography.Text type="secondary">{maySeeCluster ? t('jobs.noQuota') : t('jobs.quotaHidden')}</Typography.Text>
                ) : (
                  <Space direction="vertical" style={{ width: '100%' }} data-testid="quota-check">
                    {checks.map((c) => (
                      <div key={`${c.scope}-${c.what}`}>
                        <Typography.Text>
                          {t(`jobs.quotaLine.${c.what}`, {
                            scope: t(`jobs.quotaScope.${c.scope}`, { defaultValue: c.scope }),
                            used: formatNumber(c.used, { maximumFractionDigits: 2 }),
                            job: formatNumber(c.job, { maximumFractionDigits: 2 }),
                            limit: formatNumber(c.limit, { maximumFractionDigits: 2 }),
                          })}
                        </Typography.Text>
                        <Progress
                          aria-label={t(`jobs.quotaLine.${c.what}`, { scope: c.scope, used: c.used, job: c.job, limit: c.limit })}
                          percent={Math.min(100, Math.round((100 * (c.used + c.job)) / Math.max(c.limit, 1e-9)))}
                          success={{ percent: Math.min(100, Math.round((100 * c.used) / Math.max(c.limit, 1e-9))) }}
                          status={c.over ? 'exception' : 'normal'}
                        />
                      </div>
                    ))}
                    {checks.some((c) => c.over) && <Alert type="warning" showIcon title={t('jobs.overQuota')} />}
                  </Space>
                )}
              </>
            ) : (
              <Typography.Text type="secondary">{t('jobs.estimateHint')}</Typography.Text>
            )}
          </Card>
        </Col>
      </Row>
      {projectId && (
        <SaveTemplateModal
          open={saving}
          projectId={projectId}
          body={(name, description) => templateBody(name, description, form.getFieldsValue(true) as JobFields, applied)}
          onClose={() => setSaving(false)}
          onSaved={(saved) => {
            setSaving(false);
            setSavedName(saved.name);
            setApplied(saved);
          }}
        />
      )}
    </>
  );
}
