// One record as an annotator corrects it: the conversation with every assistant answer editable
// (the user's and system's turns shown as they are), a preference pair's prompt with its chosen
// and rejected answers side by side and a swap, or a text.
import { SwapOutlined } from '@ant-design/icons';
import { Button, Col, Input, Row, Space, Typography } from 'antd';
import { useTranslation } from 'react-i18next';
import type { Schemas } from '../api/client';
import { swapped, withContent, withText, type CanonicalRecord, type Part } from './draft';

function Messages({ record, part, onChange }: { record: CanonicalRecord; part: Part; onChange: (r: CanonicalRecord) => void }) {
  const { t } = useTranslation();
  const list = ((record as Record<string, unknown>)[part] ?? []) as Schemas['DatasetMessage'][];
  return (
    <Space direction="vertical" style={{ width: '100%' }}>
      {list.map((m, i) =>
        m.role === 'assistant' ? (
          <div key={i}>
            <Typography.Text strong>{t(`annotation.roles.${m.role}`)}</Typography.Text>
            <Input.TextArea
              aria-label={t('annotation.answerOf', { part: t(`annotation.parts.${part}`), n: i + 1 })}
              autoSize={{ minRows: 2, maxRows: 12 }}
              value={m.content}
              onChange={(e) => onChange(withContent(record, part, i, e.target.value))}
            />
          </div>
        ) : (
          <div key={i}>
            <Typography.Text strong>{t(`annotation.roles.${m.role}`)}</Typography.Text>
            <Typography.Paragraph style={{ whiteSpace: 'pre-wrap', marginBottom: 0 }}>{m.content}</Typography.Paragraph>
          </div>
        ),
      )}
    </Space>
  );
}

export function RecordEditor({ record, onChange }: { record: CanonicalRecord; onChange: (r: CanonicalRecord) => void }) {
  const { t } = useTranslation();
  if (record.type === 'text') {
    return <Input.TextArea aria-label={t('annotation.text')} autoSize={{ minRows: 4, maxRows: 20 }} value={record.text} onChange={(e) => onChange(withText(record, e.target.value))} />;
  }
  if (record.type === 'chat') return <Messages record={record} part="messages" onChange={onChange} />;
  return (
    <Space direction="vertical" style={{ width: '100%' }}>
      <Messages record={record} part="prompt" onChange={onChange} />
      <Row gutter={16}>
        <Col xs={24} md={12}>
          <Typography.Title level={5} style={{ color: '#237804' }}>{t('annotation.parts.chosen')}</Typography.Title>
          <Messages record={record} part="chosen" onChange={onChange} />
        </Col>
        <Col xs={24} md={12}>
          <Typography.Title level={5} style={{ color: '#a8071a' }}>{t('annotation.parts.rejected')}</Typography.Title>
          <Messages record={record} part="rejected" onChange={onChange} />
        </Col>
      </Row>
      <Button icon={<SwapOutlined />} onClick={() => onChange(swapped(record))}>{t('annotation.swap')}</Button>
    </Space>
  );
}
