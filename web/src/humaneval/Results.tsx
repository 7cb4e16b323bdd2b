// A human evaluation's results: per criterion each model's mean with its 95% interval and the
// distribution of scores (rubric), or each model's preferred share, ties and how often the
// answer shown first won (pairwise); the raters' agreement (Krippendorff's alpha, and Cohen's
// kappa for two raters); each rater's progress; error tags per model; flags and comments.
import { Card, Descriptions, List, Space, Table, Typography } from 'antd';
import { useTranslation } from 'react-i18next';
import type { Schemas } from '../api/client';
import { formatNumber } from '../i18n/format';

type Results = Schemas['HumanEvalResults'];
type Agreement = Schemas['Agreement'];

const fixed = (v: number | null | undefined, digits = 2) => (v == null ? '—' : formatNumber(v, { minimumFractionDigits: digits, maximumFractionDigits: digits }));
const interval = (i: number[] | null | undefined, digits = 2) => (i && i.length === 2 ? `[${fixed(i[0], digits)}, ${fixed(i[1], digits)}]` : '—');
const percent = (v: number | null | undefined) => (v == null ? '—' : formatNumber(v, { style: 'percent', maximumFractionDigits: 1 }));

export const isPairwise = (f: Schemas['HumanEvalFigures']): f is Schemas['PairwiseFigures'] => 'votes' in f;

function AgreementLine({ a }: { a: Agreement }) {
  const { t } = useTranslation();
  const parts = [
    a.krippendorff_alpha_interval !== undefined && t('humanEvals.alpha', { level: t('humanEvals.levels.interval'), value: fixed(a.krippendorff_alpha_interval) }),
    a.krippendorff_alpha_ordinal !== undefined && t('humanEvals.alpha', { level: t('humanEvals.levels.ordinal'), value: fixed(a.krippendorff_alpha_ordinal) }),
    a.krippendorff_alpha_nominal !== undefined && t('humanEvals.alpha', { level: t('humanEvals.levels.nominal'), value: fixed(a.krippendorff_alpha_nominal) }),
    a.cohen_kappa && t('humanEvals.kappa', { value: fixed(a.cohen_kappa.kappa), units: a.cohen_kappa.units }),
    t('humanEvals.ratedTwice', { n: a.units_rated_twice }),
  ].filter(Boolean);
  return <Typography.Text type="secondary">{t('humanEvals.agreement')}: {parts.join(' · ')}</Typography.Text>;
}

export function HumanEvalResultsView({ results }: { results: Results }) {
  const { t } = useTranslation();
  const modelName = (position: number) => {
    const m = results.models[position];
    return m ? `${m.name}${m.model ? ` (${m.model})` : ''}` : String(position);
  };
  const f = results.figures;
  return (
    <Space direction="vertical" size="large" style={{ width: '100%' }}>
      {isPairwise(f) ? (
        <Card title={t('humanEvals.preferences')}>
          <Descriptions size="small" column={{ xs: 1, md: 3 }}>
            <Descriptions.Item label={t('humanEvals.votes')}>{formatNumber(f.votes)}</Descriptions.Item>
            <Descriptions.Item label={t('humanEvals.ties')}>{formatNumber(f.ties)}</Descriptions.Item>
            <Descriptions.Item label={t('humanEvals.firstShownChosen')}>{percent(f.first_shown_chosen)}</Descriptions.Item>
          </Descriptions>
          <Table
            size="small"
            pagination={false}
            rowKey="position"
            dataSource={f.models}
            columns={[
              { title: t('humanEvals.model'), dataIndex: 'position', render: (p: number) => modelName(p) },
              { title: t('humanEvals.votesFor'), dataIndex: 'votes', render: (v: number) => formatNumber(v) },
              { title: t('humanEvals.preferredShare'), dataIndex: 'preferred_share', render: (v?: number | null) => percent(v) },
              { title: t('humanEvals.interval'), dataIndex: 'interval', render: (i?: number[] | null) => interval(i, 3) },
            ]}
          />
          <AgreementLine a={f.agreement} />
        </Card>
      ) : (
        f.criteria.map((c) => (
          <Card key={c.name} title={`${t(`humanEvals.criteria.${c.name}`, { defaultValue: c.name })} (${c.min}–${c.max})`}>
            <Table
              size="small"
              pagination={false}
              rowKey="position"
              dataSource={c.models}
              columns={[
                { title: t('humanEvals.model'), dataIndex: 'position', render: (p: number) => modelName(p) },
                { title: t('humanEvals.mean'), dataIndex: 'mean', render: (v?: number | null) => fixed(v) },
                { title: t('humanEvals.interval'), dataIndex: 'interval', render: (i?: number[] | null) => interval(i) },
                { title: t('humanEvals.ratings'), dataIndex: 'ratings', render: (n: number) => formatNumber(n) },
                {
                  title: t('humanEvals.distribution'),
                  dataIndex: 'histogram',
                  render: (h: Schemas['ScoreCount'][]) => h.map((s) => `${s.score}: ${s.count}`).join(' · '),
                },
              ]}
            />
            <AgreementLine a={c.agreement} />
          </Card>
        ))
      )}
      <Card title={t('humanEvals.raters')}>
        <Table
          size="small"
          pagination={false}
          rowKey="rater_id"
          dataSource={results.raters}
          locale={{ emptyText: t('humanEvals.noRatings') }}
          columns={[
            { title: t('humanEvals.rater'), dataIndex: 'name', render: (n: string | null, r) => n ?? r.rater_id },
            { title: t('humanEvals.rated'), dataIndex: 'rated' },
            { title: t('humanEvals.skipped'), dataIndex: 'skipped' },
            { title: t('humanEvals.flagged'), dataIndex: 'flagged' },
            { title: t('humanEvals.remaining'), dataIndex: 'remaining' },
          ]}
        />
      </Card>
      {results.error_tags.length > 0 && (
        <Card title={t('humanEvals.errorTags')}>
          <Table
            size="small"
            pagination={false}
            rowKey="tag"
            dataSource={results.error_tags}
            columns={[
              { title: t('humanEvals.tag'), dataIndex: 'tag', render: (tag: string) => t(`humanEvals.tags.${tag}`, { defaultValue: tag }) },
              ...results.models.map((m) => ({ title: modelName(m.position), key: `m${m.position}`, render: (_: unknown, row: Schemas['TagCounts']) => formatNumber(row.counts[m.position] ?? 0) })),
            ]}
          />
        </Card>
      )}
      {(results.flags.length > 0 || results.comments.length > 0) && (
        <Card title={t('humanEvals.notes')}>
          <List
            size="small"
            dataSource={[...results.flags.map((n) => ({ ...n, kind: 'flag' as const })), ...results.comments.map((n) => ({ ...n, kind: 'comment' as const }))]}
            renderItem={(n) => (
              <List.Item>
                <Typography.Text>{t(n.kind === 'flag' ? 'humanEvals.flagOn' : 'humanEvals.commentOn', { item: n.item + 1 })}</Typography.Text>
                <Typography.Text>{n.text}</Typography.Text>
              </List.Item>
            )}
          />
        </Card>
      )}
    </Space>
  );
}
