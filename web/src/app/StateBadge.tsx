import { Badge } from 'antd';

export type BadgeStatus = 'default' | 'processing' | 'warning' | 'success' | 'error';

/** A resource's state: a coloured dot beside text in the body colour (coloured text on a tinted
 * background would miss WCAG's contrast). */
export function StateBadge<S extends string>({ state, statuses, label }: { state: string; statuses: Record<S, BadgeStatus>; label: (s: S) => string }) {
  const s = state as S;
  return <Badge status={statuses[s] ?? 'default'} text={label(s)} />;
}
