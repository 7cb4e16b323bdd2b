import { useTranslation } from 'react-i18next';
import { StateBadge, type BadgeStatus } from '../app/StateBadge';

type State = 'queued' | 'running' | 'cancelling' | 'succeeded' | 'failed' | 'cancelled';
const STATUS: Record<State, BadgeStatus> = { queued: 'default', running: 'processing', cancelling: 'warning', succeeded: 'success', failed: 'error', cancelled: 'default' };

export function isFinal(state: string): boolean {
  return state === 'succeeded' || state === 'failed' || state === 'cancelled';
}

export function JobStateTag({ state }: { state: string }) {
  const { t } = useTranslation();
  return <StateBadge state={state} statuses={STATUS} label={(s) => t(`jobs.states.${s}`)} />;
}
