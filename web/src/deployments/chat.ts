// A streamed chat completion through the playground endpoint: OpenAI-style `data:` chunks,
// each delta handed over as it arrives, until `[DONE]`.
import { ApiFailure } from '../api/client';
import { accessToken } from '../api/session';
import { parseSse } from '../training/events';

export type ChatMessage = { role: 'system' | 'user' | 'assistant'; content: string };

export async function streamChat(
  request: { model: string; messages: ChatMessage[]; temperature: number; max_tokens: number },
  onDelta: (text: string) => void,
  signal: AbortSignal,
): Promise<void> {
  const token = await accessToken();
  const res = await fetch('/api/v1/playground/chat', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Accept: 'text/event-stream', ...(token ? { Authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify({ ...request, stream: true }),
    signal,
  });
  if (!res.ok || !res.body) {
    const body = (await res.json().catch(() => ({}))) as { error?: { message?: string; code?: string; param?: string } };
    throw new ApiFailure(res.status, body.error?.message ?? `HTTP ${res.status}`, body.error?.code ?? null, body.error?.param ?? null);
  }
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    const parsed = parseSse(buffer + value);
    buffer = parsed.rest;
    for (const e of parsed.events) {
      if (e.data === '[DONE]') return;
      const chunk = JSON.parse(e.data) as { error?: { message?: string }; choices?: { delta?: { content?: string | null } }[] };
      if (chunk.error) throw new ApiFailure(500, chunk.error.message ?? e.data, null, null);
      const text = chunk.choices?.[0]?.delta?.content;
      if (text) onDelta(text);
    }
  }
}
