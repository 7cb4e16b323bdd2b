import { describe, expect, it } from 'vitest';
import { trainingFigures } from './summary';

describe('a fine-tuned model\'s training summary', () => {
  it('lists the figures the run reported, formatted, in a fixed order', () => {
    const figures = trainingFigures({ precision: 'bf16', tokens: 12345, final_loss: 0.123456, seconds: 125, eval_loss: null, steps: 60, tokens_per_second: 98.76 });
    expect(figures.map(([k]) => k)).toEqual(['final_loss', 'steps', 'tokens', 'seconds', 'tokens_per_second', 'precision']);
    const shown = Object.fromEntries(figures);
    expect(shown.final_loss).toMatch(/^0[.,]1235$/);
    expect(shown.tokens).toMatch(/^12[,. ]?345$/);
    expect(shown.seconds).toMatch(/2.*5/);
    expect(shown.precision).toBe('bf16');
  });

  it('shows nothing for a run that reported nothing', () => {
    expect(trainingFigures({})).toEqual([]);
  });
});
