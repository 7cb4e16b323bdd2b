// Hardware fit: one estimate per training method of a model at a common setting, and the table
// of which device types each fits, with the memory it needs there.
import type { Schemas } from '../api/client';

export const METHODS = ['full', 'freeze', 'lora', 'qlora', 'dora'] as const;
export type Method = (typeof METHODS)[number];

/** The setting every method is estimated at: 1,024-token rows, one per micro-batch, gradient
 * checkpointing on (as people train large models on one GPU), 1M tokens. */
export const FIT_SETTING = { sequenceLength: 1024, microBatch: 1, tokens: 1_000_000 };

export type FitSubject = { base_model_id: string } | { catalog_repo_id: string };

export function fitRequest(subject: FitSubject, method: Method): Schemas['EstimateRequest'] {
  return {
    ...subject,
    dataset_tokens: FIT_SETTING.tokens,
    config: {
      method: { kind: method },
      data: { max_seq_length: FIT_SETTING.sequenceLength },
      hyperparameters: { micro_batch_size: FIT_SETTING.microBatch, gradient_checkpointing: true },
    } as Schemas['TrainingConfig'],
  };
}

/** On one device type: whether it fits, what a run there needs and what the device has. */
export type FitCell = { fits: boolean; needGib: number; memoryGib: number };
export type FitRow = { method: Method; cells: Record<string, FitCell> };

/** Rows per method (in `METHODS` order, only those estimated) and the device types as columns,
 * in the order the estimates list them. */
export function fitTable(estimates: Partial<Record<Method, Schemas['EstimateView']>>): { devices: string[]; rows: FitRow[] } {
  const devices: string[] = [];
  const rows: FitRow[] = [];
  for (const method of METHODS) {
    const e = estimates[method];
    if (!e) continue;
    const cells: Record<string, FitCell> = {};
    for (const d of e.devices) {
      if (!devices.includes(d.device)) devices.push(d.device);
      cells[d.device] = { fits: d.fits, needGib: d.memory_needed_gib, memoryGib: d.memory_gib };
    }
    rows.push({ method, cells });
  }
  return { devices, rows };
}
