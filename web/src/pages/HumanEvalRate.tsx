// The rating screen: one item at a time in the rater's own order — the conversation, the
// answers side by side under shuffled labels (which model wrote which is never shown), a slider
// per rubric criterion or the preferred answer, error tags, a comment and a flag — with the
// rater's progress, and the keyboard: 1/2/0 pick in a pairwise task, Enter sends, S skips.
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { Alert, Button, Card, Checkbox, Col, Flex, Input, Progress, Radio, Result, Row, Skeleton, Slider, Space, Tag, Typography } from 'antd';
import { useEffect, useRef, useState } from 'react';
import { useTranslation } from 'react-i18next';
import { Link, useParams } from 'react-router';
import { api, unwrap, type Schemas } from '../api/client';
import { ErrorNotice } from '../app/ErrorNotice';
import { PageHeader } from '../app/PageHeader';
import { formatNumber } from '../i18n/format';
import { draftOf, emptyDraft, missing, ratingOf, shortcut, type Draft, type RatingInput } from '../humaneval/rating';

type Task = Schemas['HumanEvalView'];
type Item = Schemas['HumanEvalItem'];

function Prompt({ item }: { item: Item }) {
  const { t } = useTranslation();
  const messages = (item.prompt ?? []) as { role?: string; content?: string }[];
  return (
    <Card title={t('humanEvals.prompt')} size="small">
      {messages.length === 0 && <Typography.Text type="secondary">{t('humanEvals.noPrompt')}</Typography.Text>}
      {messages.map((m, i) => (
        <Typography.Paragraph key={i} style={{ whiteSpace: 'pre-wrap', marginBottom: 8 }}>
          <Tag>{m.role}</Tag>
          {m.content}
        </Typography.Paragraph>
      ))}
      {item.references.length > 0 && (
        <details>
          <summary>{t('humanEvals.reference')}</summary>
          {item.references.map((r, i) => <Typography.Paragraph key={i} style={{ whiteSpace: 'pre-wrap' }}>{r}</Typography.Paragraph>)}
        </details>
      )}
    </Card>
  );
}

function Answer({ task, answer, draft, setDraft }: { task: Task; answer: Schemas['ShownAnswer']; draft: Draft; setDraft: (f: (d: Draft) => Draft) => void }) {
  const { t } = useTranslation();
  const label = answer.label;
  return (
    <Card title={t('humanEvals.answer', { label })} size="small" data-testid={`answer-${label}`}>
      <Typography.Paragraph style={{ whiteSpace: 'pre-wrap' }}>{answer.text || <Typography.Text type="secondary">{t('humanEvals.emptyAnswer')}</Typography.Text>}</Typography.Paragraph>
      {task.mode === 'rubric' &&
        task.criteria.map((c) => {
          const min = c.min ?? 0;
          const max = c.max ?? 5;
          const value = draft.scores[label]?.[c.name];
          const name = t(`humanEvals.criteria.${c.name}`, { defaultValue: c.name });
          return (
            <div key={c.name}>
              <Flex justify="space-between">
                <Typography.Text strong>{name}</Typography.Text>
                <Typography.Text type={value === undefined ? 'secondary' : undefined}>{value === undefined ? t('humanEvals.notScored') : formatNumber(value)}</Typography.Text>
              </Flex>
              {c.description && <Typography.Text type="secondary">{c.description}</Typography.Text>}
              <Slider
                min={min}
                max={max}
                step={1}
                marks={{ [min]: String(min), [max]: String(max) }}
                value={value ?? min}
                className={value === undefined ? 'slider-unset' : undefined}
                ariaLabelForHandle={t('humanEvals.scoreOf', { criterion: name, label })}
                onChange={(v: number) => setDraft((d) => ({ ...d, scores: { ...d.scores, [label]: { ...d.scores[label], [c.name]: v } } }))}
              />
            </div>
          );
        })}
      {task.error_tags.length > 0 && (
        <Checkbox.Group
          aria-label={t('humanEvals.tagsOf', { label })}
          value={draft.tags[label] ?? []}
          onChange={(v) => setDraft((d) => ({ ...d, tags: { ...d.tags, [label]: v as string[] } }))}
          options={task.error_tags.map((tag) => ({ value: tag, label: t(`humanEvals.tags.${tag}`, { defaultValue: tag }) }))}
        />
      )}
    </Card>
  );
}

export function HumanEvalRate() {
  const { t } = useTranslation();
  const { humanEvalId = '' } = useParams();
  const queryClient = useQueryClient();
  const [draft, setDraft] = useState<Draft>(emptyDraft);
  const [incomplete, setIncomplete] = useState<string[]>([]);
  const task = useQuery({
    queryKey: ['human-evals', humanEvalId],
    queryFn: async () => unwrap(await api.GET('/api/v1/human-evals/{human_eval_id}', { params: { path: { human_eval_id: humanEvalId } } })),
  });
  // The items rated in this visit, to go back to; `viewing` is one of them (null: the next).
  const [history, setHistory] = useState<number[]>([]);
  const [viewing, setViewing] = useState<number | null>(null);
  const next = useQuery({
    queryKey: ['human-evals', humanEvalId, 'next'],
    queryFn: async () => unwrap(await api.GET('/api/v1/human-evals/{human_eval_id}/next', { params: { path: { human_eval_id: humanEvalId } } })),
  });
  const earlier = useQuery({
    queryKey: ['human-evals', humanEvalId, 'item', viewing],
    enabled: viewing !== null,
    queryFn: async () =>
      unwrap(await api.GET('/api/v1/human-evals/{human_eval_id}/items/{item}', { params: { path: { human_eval_id: humanEvalId, item: viewing ?? 0 } } })),
  });
  const send = useMutation({
    mutationFn: async (body: RatingInput) =>
      unwrap(await api.POST('/api/v1/human-evals/{human_eval_id}/ratings', { params: { path: { human_eval_id: humanEvalId } }, body })),
    onSuccess: async (_, body) => {
      setHistory((h) => [...h.filter((i) => i !== body.item), body.item]);
      setViewing(null);
      await queryClient.invalidateQueries({ queryKey: ['human-evals', humanEvalId] });
    },
  });
  const shown = viewing === null ? next.data : earlier.data;
  const item = shown?.item ?? null;
  const itemNumber = item?.item;
  useEffect(() => {
    setDraft(draftOf(item?.my_rating));
    setIncomplete([]);
  }, [itemNumber]); // eslint-disable-line react-hooks/exhaustive-deps

  const labels = item?.answers.map((a) => a.label) ?? [];
  const pairwise = task.data?.mode === 'pairwise';
  const submit = () => {
    if (!item || !task.data || send.isPending) return;
    const gaps = missing(draft, labels, task.data.criteria, pairwise);
    setIncomplete(gaps);
    if (gaps.length === 0) send.mutate(ratingOf(item.item, draft, labels, pairwise));
  };
  const skip = () => item && !send.isPending && send.mutate({ item: item.item, skip: true });
  // The keyboard, outside text fields (read through a ref so the listener is added once).
  const keys = useRef({ submit, skip, labels, pairwise });
  keys.current = { submit, skip, labels, pairwise };
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      const target = e.target as HTMLElement | null;
      if (e.ctrlKey || e.metaKey || e.altKey || target?.closest('input[type=text], textarea, [contenteditable=true]')) return;
      // Enter on a button or link does what that button says (skip, previous…), not a send.
      if (e.key === 'Enter' && target?.closest('button, a')) return;
      const k = keys.current;
      const action = shortcut(e.key, k.labels, k.pairwise);
      if (!action) return;
      e.preventDefault();
      if (action.kind === 'submit') k.submit();
      else if (action.kind === 'skip') k.skip();
      else setDraft((d) => ({ ...d, preference: action.label }));
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, []);

  if (task.error || next.error || earlier.error) return <ErrorNotice error={task.error ?? next.error ?? earlier.error} onRetry={() => void next.refetch()} />;
  if (!task.data || !next.data || (viewing !== null && !earlier.data)) return <Skeleton active />;
  const h = task.data;
  const progress = (shown ?? next.data).progress;
  const previous = history.filter((i) => i !== item?.item).at(-1);
  const done = progress.rated + progress.skipped;
  return (
    <Space direction="vertical" size="middle" style={{ width: '100%' }}>
      <PageHeader back={{ to: `/human-evals/${h.id}`, label: t('humanEvals.backTo', { name: h.name }) }} title={t('humanEvals.rateTitle', { name: h.name })} />
      <Card size="small">
        <Typography.Text>{t('humanEvals.progress', { done: formatNumber(done), items: formatNumber(progress.items), skipped: formatNumber(progress.skipped), flagged: formatNumber(progress.flagged) })}</Typography.Text>
        <Progress aria-label={t('humanEvals.progressLabel')} percent={progress.items ? Math.floor((100 * done) / progress.items) : 0} />
        <Typography.Text type="secondary">{pairwise ? t('humanEvals.keysPairwise') : t('humanEvals.keysRubric')}</Typography.Text>
      </Card>
      {h.instructions && <Alert type="info" showIcon title={t('humanEvals.instructions')} description={<span style={{ whiteSpace: 'pre-wrap' }}>{h.instructions}</span>} />}
      {!item ? (
        <>
          {previous !== undefined && <Button onClick={() => setViewing(previous)}>{t('humanEvals.previous')}</Button>}
          <Result status="success" title={t('humanEvals.allDone')} extra={<Link to={`/human-evals/${h.id}`}>{t('humanEvals.backTo', { name: h.name })}</Link>} />
        </>
      ) : (
        <>
          <Typography.Text type="secondary">{t('humanEvals.itemOf', { position: formatNumber(item.position), items: formatNumber(progress.items) })}</Typography.Text>
          <Prompt item={item} />
          <Row gutter={[16, 16]}>
            {item.answers.map((a) => (
              <Col key={a.label} xs={24} md={24 / Math.min(item.answers.length, 4)}>
                <Answer task={h} answer={a} draft={draft} setDraft={setDraft} />
              </Col>
            ))}
          </Row>
          {pairwise && (
            <Card size="small" title={t('humanEvals.which')}>
              <Radio.Group value={draft.preference} onChange={(e) => setDraft((d) => ({ ...d, preference: e.target.value as string }))} aria-label={t('humanEvals.which')}>
                {labels.map((l, i) => <Radio.Button key={l} value={l}>{t('humanEvals.prefer', { label: l, key: i + 1 })}</Radio.Button>)}
                <Radio.Button value="tie">{t('humanEvals.tie')}</Radio.Button>
              </Radio.Group>
            </Card>
          )}
          <Card size="small">
            <Space direction="vertical" style={{ width: '100%' }}>
              <Input.TextArea rows={2} placeholder={t('humanEvals.commentPlaceholder')} aria-label={t('humanEvals.comment')} value={draft.comment} onChange={(e) => setDraft((d) => ({ ...d, comment: e.target.value }))} />
              <Checkbox checked={draft.flag !== null} onChange={(e) => setDraft((d) => ({ ...d, flag: e.target.checked ? '' : null }))}>{t('humanEvals.flag')}</Checkbox>
              {draft.flag !== null && (
                <Input placeholder={t('humanEvals.flagPlaceholder')} aria-label={t('humanEvals.flagReason')} value={draft.flag} onChange={(e) => setDraft((d) => ({ ...d, flag: e.target.value }))} />
              )}
              {incomplete.length > 0 && <Alert type="warning" showIcon title={t('humanEvals.incomplete', { missing: incomplete.join(', ') })} />}
              {send.error && <ErrorNotice error={send.error} />}
              <Space wrap>
                <Button type="primary" onClick={submit} loading={send.isPending}>{t('humanEvals.send')}</Button>
                <Button onClick={skip} disabled={send.isPending}>{t('humanEvals.skip')}</Button>
                {previous !== undefined && <Button onClick={() => setViewing(previous)} disabled={send.isPending}>{t('humanEvals.previous')}</Button>}
                {viewing !== null && <Button onClick={() => setViewing(null)}>{t('humanEvals.backToNext')}</Button>}
              </Space>
            </Space>
          </Card>
        </>
      )}
    </Space>
  );
}
