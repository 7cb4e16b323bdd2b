import { describe, expect, it } from 'vitest';
import { importRequest } from './ImportDrawer';

describe('importRequest', () => {
  it('sends a hub repository with its revision only when given, and a server path otherwise', () => {
    expect(importRequest({ name: ' qwen ', kind: 'hub', repo_id: ' Qwen/Qwen2.5-0.5B-Instruct ', revision: ' ' })).toEqual({
      name: 'qwen',
      source: { kind: 'hub', repo_id: 'Qwen/Qwen2.5-0.5B-Instruct' },
    });
    expect(importRequest({ name: 'local', kind: 'gguf', path: '/models/a.gguf', repo_id: 'ignored/x' })).toEqual({ name: 'local', source: { kind: 'gguf', path: '/models/a.gguf' } });
  });
});
