import { Badge } from 'antd';
import { useTranslation } from 'react-i18next';

type State = 'queued' | 'running' | 'cancelling' | 'succeeded' | 'failed' | 'cancelled';
type Status = 'default' | 'processing' | 'warning' | 'success' | 'error';
const STATUS: Record<State, Status> = { queued: 'default', running: 'processing', cancelling: 'warning', succeeded: 'success', failed: 'error', cancelled: 'default' };

export function isFinal(state: string): boolean {
  return state === 'succeeded' || state === 'failed' || state === 'cancelled';
}

/** A job's state: a coloured dot beside text in the body colour (coloured text on a tinted
 * background would miss WCAG's contrast). */
export function JobStateTag({ state }: { state: string }) {
  const { t } = useTranslation();
  const s = state as State;
  return <Badge status={STATUS[s] ?? 'default'} text={t(`jobs.states.${s}`)} />;
}
