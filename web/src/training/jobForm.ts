// The fine-tuning wizard's fields and what they become: a job submission or a configuration
// template. A template may hold settings the wizard does not show (LoRA rank, epochs, a chat
// template…): the wizard's fields are laid over the applied template's configuration, so those
// settings travel into the job and into a template saved from it.
import type { Schemas } from '../api/client';

export type JobFields = {
  project_id?: string | null;
  dataset_id?: string;
  base_model_id?: string;
  objective: Schemas['Objective'];
  method: Schemas['Method'];
  max_steps?: number | null;
  learning_rate: number;
  /** Empty: any device type the scheduler finds. */
  gpu_type?: string | null;
  gpus: number;
  priority?: string | null;
  preemptible: boolean;
  max_hours?: number | null;
};

export type JobTemplate = Schemas['JobTemplate'];

export const DEFAULT_FIELDS: JobFields = {
  project_id: '',
  objective: 'sft',
  method: 'lora',
  learning_rate: 0.0002,
  max_steps: 20,
  gpu_type: '',
  gpus: 1,
  priority: '',
  preemptible: false,
};

export function resources(f: JobFields): Schemas['ResourceRequest'] {
  return {
    gpu_type: f.gpu_type || null,
    gpus: f.gpus || 1,
    priority: f.priority || null,
    preemptible: Boolean(f.preemptible),
    max_duration_s: f.max_hours ? Math.round(f.max_hours * 3600) : null,
  };
}

/** The wizard's fields over `base` (an applied template's configuration, if any). */
export function trainingConfig(f: JobFields, base?: Schemas['TrainingConfig']): Schemas['TrainingConfig'] {
  const hyperparameters: Record<string, unknown> = { ...(base?.hyperparameters ?? {}), learning_rate: f.learning_rate };
  if (f.max_steps) hyperparameters.max_steps = f.max_steps;
  else delete hyperparameters.max_steps;
  return {
    ...(base ?? {}),
    objective: f.objective,
    method: { ...(base?.method ?? {}), kind: f.method },
    hyperparameters,
  } as Schemas['TrainingConfig'];
}

/** The wizard's fields a template sets; its base model only when it names one. */
export function fieldsOfTemplate(t: JobTemplate): Partial<JobFields> {
  const hp = t.config.hyperparameters;
  const d = t.resources.max_duration_s;
  return {
    ...(t.base_model_id ? { base_model_id: t.base_model_id } : {}),
    objective: t.config.objective ?? 'sft',
    method: t.config.method?.kind ?? 'lora',
    learning_rate: hp?.learning_rate ?? DEFAULT_FIELDS.learning_rate,
    max_steps: hp?.max_steps ?? null,
    gpu_type: t.resources.gpu_type ?? '',
    gpus: t.resources.gpus ?? 1,
    priority: t.resources.priority ?? '',
    preemptible: Boolean(t.resources.preemptible),
    max_hours: d ? d / 3600 : null,
  };
}

/** The choices beyond the wizard's fields that a job or template keeps from an applied template. */
function extras(applied: JobTemplate | undefined) {
  return { chat_template: applied?.chat_template ?? null, merge_lora: applied?.merge_lora ?? false, max_restarts: applied?.max_restarts ?? null };
}

export function jobSubmission(f: JobFields, applied?: JobTemplate): Schemas['NewJob'] {
  return {
    ...(f.project_id ? { project_id: f.project_id } : {}),
    dataset_id: f.dataset_id as string,
    base_model_id: f.base_model_id as string,
    config: trainingConfig(f, applied?.config),
    resources: resources(f),
    ...extras(applied),
  } as Schemas['NewJob'];
}

export function templateBody(name: string, description: string, f: JobFields, applied?: JobTemplate): Schemas['NewJobTemplate'] {
  return {
    name,
    description,
    base_model_id: f.base_model_id || null,
    config: trainingConfig(f, applied?.config),
    resources: resources(f),
    ...extras(applied),
  } as Schemas['NewJobTemplate'];
}
