// An answer as word operations from the baseline's answer: kept words plain, added words marked
// as inserted, the baseline's missing words struck through.
import type { Schemas } from '../api/client';

export function WordDiff({ ops }: { ops: Schemas['DiffOp'][] }) {
  return (
    <span className="word-diff">
      {ops.map((o, i) =>
        o.op === 'insert' ? <ins key={i}>{o.text} </ins> : o.op === 'delete' ? <del key={i}>{o.text} </del> : <span key={i}>{o.text} </span>,
      )}
    </span>
  );
}
