import { describe, expect, it } from 'vitest';
import { DEFAULT_FIELDS, fieldsOfTemplate, jobSubmission, templateBody, trainingConfig, type JobTemplate } from './jobForm';

const template = {
  id: 'tmpl_1',
  project_id: 'prj_1',
  name: 'short lora',
  description: '',
  base_model_id: 'bm_1',
  config: {
    objective: 'sft',
    method: { kind: 'dora', lora: { rank: 32, alpha: 64 } },
    hyperparameters: { learning_rate: 0.0001, max_steps: 30, epochs: 2 },
  },
  resources: { gpu_type: 'a100', gpus: 2, priority: 'high', preemptible: true, max_duration_s: 5400 },
  chat_template: 'chatml',
  merge_lora: true,
  max_restarts: 3,
  created_by: 'usr_1',
  updated_by: 'usr_1',
  created_at: 1,
  updated_at: 1,
} as unknown as JobTemplate;

describe('the wizard and templates', () => {
  it('fills the fields a template sets, keeping the base model when it names none', () => {
    const f = fieldsOfTemplate(template);
    expect(f).toMatchObject({ base_model_id: 'bm_1', method: 'dora', learning_rate: 0.0001, max_steps: 30, gpu_type: 'a100', gpus: 2, priority: 'high', preemptible: true, max_hours: 1.5 });
    expect(fieldsOfTemplate({ ...template, base_model_id: null })).not.toHaveProperty('base_model_id');
  });

  it('lays the fields over the template, keeping what the wizard does not show', () => {
    const f = { ...DEFAULT_FIELDS, ...fieldsOfTemplate(template), learning_rate: 0.0005, max_steps: null, method: 'lora' as const, dataset_id: 'ds_1' };
    const config = trainingConfig(f, template.config) as unknown as { method: { kind: string; lora: { rank: number } }; hyperparameters: Record<string, unknown> };
    expect(config.method).toEqual({ kind: 'lora', lora: { rank: 32, alpha: 64 } });
    expect(config.hyperparameters).toEqual({ learning_rate: 0.0005, epochs: 2 });
    const job = jobSubmission({ ...f, project_id: 'prj_1' }, template);
    expect(job).toMatchObject({ project_id: 'prj_1', dataset_id: 'ds_1', chat_template: 'chatml', merge_lora: true, max_restarts: 3 });
    expect(job.resources).toEqual({ gpu_type: 'a100', gpus: 2, priority: 'high', preemptible: true, max_duration_s: 5400 });
  });

  it('saves a template from the fields alone when none was applied', () => {
    const body = templateBody('mine', 'notes', { ...DEFAULT_FIELDS, base_model_id: 'bm_2' });
    expect(body).toMatchObject({ name: 'mine', description: 'notes', base_model_id: 'bm_2', chat_template: null, merge_lora: false, max_restarts: null });
    expect(body.config).toEqual({ objective: 'sft', method: { kind: 'lora' }, hyperparameters: { learning_rate: 0.0002, max_steps: 20 } });
    expect(jobSubmission({ ...DEFAULT_FIELDS, dataset_id: 'ds', base_model_id: 'bm' })).not.toHaveProperty('project_id');
  });
});
