import { describe, expect, it } from 'vitest';
import { buildRecipe, CLEAN_DEFAULTS, type CleanChoices } from './recipe';

const NONE: CleanChoices = { ...CLEAN_DEFAULTS, dedupExact: false };

describe('buildRecipe', () => {
  it('is a plain conversion when nothing is ticked', () => {
    expect(buildRecipe(NONE)).toEqual({ version: 1, steps: [{ step: 'convert' }] });
  });

  it('orders the ticked steps with duplicates first and the split last', () => {
    const recipe = buildRecipe({ ...NONE, split: true, validationPercent: 20, maskPii: true, piiKinds: ['email'], dedupExact: true, normalize: true, dedupNear: true });
    expect(recipe.steps.map((s) => s.step)).toEqual(['dedup_exact', 'dedup_near', 'mask_pii', 'split']);
    expect(recipe.steps[0]).toEqual({ step: 'dedup_exact', normalize: true });
    expect(recipe.steps[2]).toEqual({ step: 'mask_pii', kinds: ['email'] });
    expect(recipe.steps[3]).toEqual({ step: 'split', validation: { ratio: 0.2 } });
  });

  it('sends only the filter criteria given', () => {
    const recipe = buildRecipe({ ...NONE, filter: true, minChars: 0, maxChars: null, excludeRegex: '  ', languages: ['zh'] });
    expect(JSON.parse(JSON.stringify(recipe.steps[0]))).toEqual({ step: 'filter', min_chars: 0, languages: ['zh'] });
  });
});
