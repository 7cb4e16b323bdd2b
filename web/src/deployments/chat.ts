// A streamed chat completion through the playground endpoint: OpenAI-style `data:` chunks,
// each delta handed over as it arrives, until `[DONE]`.
import { apiFailure, ApiFailure } from '../api/client';
import { fetchStream, readSse } from '../api/sse';

export type ChatMessage = { role: 'system' | 'user' | 'assistant'; content: string };

export async function streamChat(
  request: { model: string; messages: ChatMessage[]; temperature: number; max_tokens: number },
  onDelta: (text: string) => void,
  signal: AbortSignal,
): Promise<void> {
  const res = await fetchStream('/api/v1/playground/chat', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ ...request, stream: true }),
    signal,
  });
  if (!res.ok || !res.body) throw apiFailure(res, await res.json().catch(() => null));
  for await (const e of readSse(res.body)) {
    if (e.data === '[DONE]') return;
    const chunk = JSON.parse(e.data) as { error?: { message?: string }; choices?: { delta?: { content?: string | null } }[] };
    if (chunk.error) throw new ApiFailure(500, chunk.error.message ?? e.data, null, null);
    const text = chunk.choices?.[0]?.delta?.content;
    if (text) onDelta(text);
  }
}
