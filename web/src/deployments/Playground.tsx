// The playground: a chat with a deployment, streamed token by token, with temperature and the
// answer's length as controls; Enter sends, Shift+Enter adds a line, Stop breaks the stream off.
import { useQueryClient } from '@tanstack/react-query';
import { Button, Col, Flex, Form, Input, InputNumber, List, Row, Slider, Space, Typography } from 'antd';
import { useRef, useState } from 'react';
import { useTranslation } from 'react-i18next';
import { ErrorNotice } from '../app/ErrorNotice';
import { streamChat, type ChatMessage } from './chat';

export function Playground({ model, deploymentId }: { model: string; deploymentId: string }) {
  const { t } = useTranslation();
  const queryClient = useQueryClient();
  const [messages, setMessages] = useState<ChatMessage[]>([]);
  const [draft, setDraft] = useState('');
  const [temperature, setTemperature] = useState(0.7);
  const [maxTokens, setMaxTokens] = useState(256);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const abort = useRef<AbortController | null>(null);

  const send = async () => {
    const text = draft.trim();
    if (!text || busy) return;
    const history: ChatMessage[] = [...messages, { role: 'user', content: text }];
    setMessages([...history, { role: 'assistant', content: '' }]);
    setDraft('');
    setError(null);
    setBusy(true);
    abort.current = new AbortController();
    try {
      await streamChat(
        { model, messages: history, temperature, max_tokens: maxTokens },
        (delta) => setMessages((all) => all.map((m, i) => (i === all.length - 1 ? { ...m, content: m.content + delta } : m))),
        abort.current.signal,
      );
    } catch (e) {
      if (!(e instanceof DOMException && e.name === 'AbortError')) setError(e);
    } finally {
      setBusy(false);
      void queryClient.invalidateQueries({ queryKey: ['deployments', deploymentId] });
    }
  };

  return (
    <Row gutter={24}>
      <Col xs={24} lg={17}>
        <List
          bordered
          dataSource={messages}
          locale={{ emptyText: ' ' }}
          style={{ minHeight: 160, marginBottom: 12 }}
          renderItem={(m) => (
            <List.Item data-role={m.role}>
              <Space direction="vertical" size={2} style={{ width: '100%' }}>
                <Typography.Text strong>{m.role === 'user' ? t('deployments.you') : t('deployments.assistant')}</Typography.Text>
                <Typography.Paragraph style={{ whiteSpace: 'pre-wrap', margin: 0 }}>{m.content}</Typography.Paragraph>
              </Space>
            </List.Item>
          )}
        />
        {error !== null && <div style={{ marginBottom: 12 }}><ErrorNotice error={error} /></div>}
        <Input.TextArea
          aria-label={t('deployments.prompt')}
          placeholder={t('deployments.promptPlaceholder')}
          autoSize={{ minRows: 2, maxRows: 8 }}
          value={draft}
          onChange={(e) => setDraft(e.target.value)}
          onKeyDown={(e) => {
            if (e.key === 'Enter' && !e.shiftKey) {
              e.preventDefault();
              void send();
            }
          }}
        />
        <Flex gap={8} style={{ marginTop: 8 }}>
          <Button type="primary" onClick={() => void send()} disabled={busy || draft.trim() === ''}>{t('deployments.send')}</Button>
          {busy && <Button onClick={() => abort.current?.abort()}>{t('deployments.stopGenerating')}</Button>}
          <Button onClick={() => setMessages([])} disabled={busy}>{t('deployments.clear')}</Button>
        </Flex>
      </Col>
      <Col xs={24} lg={7}>
        <Form layout="vertical">
          <Form.Item label={t('deployments.temperature')}>
            <Slider min={0} max={2} step={0.1} value={temperature} onChange={setTemperature} ariaLabelForHandle={t('deployments.temperature')} />
          </Form.Item>
          <Form.Item label={t('deployments.maxTokens')}>
            <InputNumber min={1} max={4096} value={maxTokens} onChange={(v) => setMaxTokens(v ?? 256)} style={{ width: '100%' }} aria-label={t('deployments.maxTokens')} />
          </Form.Item>
        </Form>
      </Col>
    </Row>
  );
}
