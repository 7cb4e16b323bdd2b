// The text training sees, cut at the rendered spans (byte offsets into its UTF-8, as the server
// counts them) into pieces that say which message each belongs to and whether it is trained.
import type { Schemas } from '../api/client';

export type Piece = { text: string; role?: Schemas['MessageRole']; trained: boolean };

export function pieces(rendered: Pick<Schemas['RenderedRecord'], 'text' | 'spans'>): Piece[] {
  const bytes = new TextEncoder().encode(rendered.text);
  const decode = (from: number, to: number) => new TextDecoder().decode(bytes.subarray(from, to));
  const out: Piece[] = [];
  let at = 0;
  for (const s of [...rendered.spans].sort((a, b) => a.start - b.start)) {
    if (s.start > at) out.push({ text: decode(at, s.start), trained: false });
    out.push({ text: decode(s.start, s.end), role: s.role, trained: s.trained });
    at = Math.max(at, s.end);
  }
  if (at < bytes.length) out.push({ text: decode(at, bytes.length), trained: false });
  return out.filter((p) => p.text.length > 0);
}
