import { describe, expect, it } from 'vitest';
import type { Schemas } from '../api/client';
import { fitRequest, fitTable } from './fit';

const estimate = (devices: [string, boolean, number, number][]) =>
  ({ devices: devices.map(([device, fits, memory_needed_gib, memory_gib]) => ({ device, fits, memory_needed_gib, memory_gib })) }) as unknown as Schemas['EstimateView'];

describe('fitRequest', () => {
  it('estimates a catalog entry or an imported model with the method at the common setting', () => {
    const body = fitRequest({ catalog_repo_id: 'Qwen/Qwen2.5-0.5B' }, 'qlora');
    expect(body).toMatchObject({ catalog_repo_id: 'Qwen/Qwen2.5-0.5B', dataset_tokens: 1_000_000, config: { method: { kind: 'qlora' }, data: { max_seq_length: 1024 }, hyperparameters: { gradient_checkpointing: true } } });
    expect(body).not.toHaveProperty('base_model_id');
  });
});

describe('fitTable', () => {
  it('orders rows by method, keeps the devices in the estimates’ order and skips methods not estimated yet', () => {
    const table = fitTable({
      lora: estimate([['cpu', true, 3.5, 16], ['T4', true, 3, 16]]),
      full: estimate([['cpu', false, 20, 16], ['T4', false, 22, 16], ['A100-80GB', true, 18, 80]]),
    });
    expect(table.rows.map((r) => r.method)).toEqual(['full', 'lora']);
    expect(table.devices).toEqual(['cpu', 'T4', 'A100-80GB']);
    expect(table.rows[0]).toEqual({
      method: 'full',
      cells: { cpu: { fits: false, needGib: 20, memoryGib: 16 }, T4: { fits: false, needGib: 22, memoryGib: 16 }, 'A100-80GB': { fits: true, needGib: 18, memoryGib: 80 } },
    });
  });
});
