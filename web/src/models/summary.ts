// A fine-tuned model's training summary (what the run reported when it finished), formatted for
// its record.
import type { Schemas } from '../api/client';
import { formatDuration, formatNumber } from '../i18n/format';

type Summary = Schemas['TrainingSummary'];

/** The figures the run reported, each formatted, in a fixed order; those it did not report left out. */
export function trainingFigures(m: Summary): [keyof Summary, string][] {
  const loss = (x: number) => formatNumber(x, { maximumFractionDigits: 4 });
  const formats: { [K in keyof Summary]-?: (v: NonNullable<Summary[K]>) => string } = {
    final_loss: loss,
    eval_loss: loss,
    steps: (x) => formatNumber(x),
    tokens: (x) => formatNumber(x),
    seconds: (x) => formatDuration(x),
    tokens_per_second: (x) => formatNumber(x, { maximumFractionDigits: 1 }),
    precision: (x) => x,
    best_step: (x) => formatNumber(x),
    best_eval_loss: loss,
  };
  const out: [keyof Summary, string][] = [];
  for (const key of Object.keys(formats) as (keyof Summary)[]) {
    const value = m[key];
    if (value != null) out.push([key, (formats[key] as (v: typeof value) => string)(value)]);
  }
  return out;
}
