// The recipe builder's choices as the API's recipe: the ticked steps in the order that makes
// sense (duplicates first, so the filters and masking see fewer records; the split last, as the
// API requires), with only the criteria given. Nothing ticked is a plain conversion, which still
// drops the records that failed validation.
import type { Schemas } from '../api/client';

type Recipe = Schemas['Recipe'];
type Step = Schemas['Step'];

export const PII_KINDS = ['email', 'phone', 'cn_id', 'bank_card', 'ipv4', 'ipv6'] as const satisfies readonly Schemas['PiiKind'][];
export const LANGUAGES = ['zh', 'en', 'other', 'none'] as const satisfies readonly Schemas['LanguageClass'][];

export type CleanChoices = {
  dedupExact: boolean;
  normalize: boolean;
  dedupNear: boolean;
  threshold: number;
  filter: boolean;
  minChars: number | null;
  maxChars: number | null;
  minTurns: number | null;
  maxTurns: number | null;
  excludeRegex: string;
  languages: Schemas['LanguageClass'][];
  maskPii: boolean;
  piiKinds: Schemas['PiiKind'][];
  split: boolean;
  validationPercent: number;
};

/** What the builder starts with: exact duplicates removed, nothing else. */
export const CLEAN_DEFAULTS: CleanChoices = {
  dedupExact: true,
  normalize: false,
  dedupNear: false,
  threshold: 0.8,
  filter: false,
  minChars: null,
  maxChars: null,
  minTurns: null,
  maxTurns: null,
  excludeRegex: '',
  languages: [],
  maskPii: false,
  piiKinds: [...PII_KINDS],
  split: false,
  validationPercent: 10,
};

function given(n: number | null | undefined): number | undefined {
  return n === null || n === undefined ? undefined : n;
}

export function buildRecipe(c: CleanChoices): Recipe {
  const steps: Step[] = [];
  if (c.dedupExact) steps.push({ step: 'dedup_exact', normalize: c.normalize });
  if (c.dedupNear) steps.push({ step: 'dedup_near', threshold: c.threshold });
  if (c.filter) {
    const filter: Step = {
      step: 'filter',
      min_chars: given(c.minChars),
      max_chars: given(c.maxChars),
      min_turns: given(c.minTurns),
      max_turns: given(c.maxTurns),
      exclude_regex: c.excludeRegex.trim() === '' ? undefined : c.excludeRegex,
      languages: c.languages.length > 0 ? c.languages : undefined,
    };
    steps.push(filter);
  }
  if (c.maskPii) steps.push({ step: 'mask_pii', kinds: c.piiKinds });
  if (c.split) steps.push({ step: 'split', validation: { ratio: c.validationPercent / 100 } });
  if (steps.length === 0) steps.push({ step: 'convert' });
  return { version: 1, steps };
}
