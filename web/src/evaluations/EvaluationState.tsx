import { useTranslation } from 'react-i18next';
import { StateBadge, type BadgeStatus } from '../app/StateBadge';

type State = 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled';
const STATUS: Record<State, BadgeStatus> = { queued: 'default', running: 'processing', succeeded: 'success', failed: 'error', cancelled: 'default' };

export function EvaluationState({ state }: { state: string }) {
  const { t } = useTranslation();
  return <StateBadge state={state} statuses={STATUS} label={(s) => t(`evaluations.states.${s}`)} />;
}
