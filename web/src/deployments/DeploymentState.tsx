import { useTranslation } from 'react-i18next';
import { StateBadge, type BadgeStatus } from '../app/StateBadge';

type State = 'stopped' | 'starting' | 'ready' | 'idle' | 'failed';
const STATUS: Record<State, BadgeStatus> = { stopped: 'default', starting: 'processing', ready: 'success', idle: 'warning', failed: 'error' };

export function DeploymentState({ state }: { state: string }) {
  const { t } = useTranslation();
  return <StateBadge state={state} statuses={STATUS} label={(s) => t(`deployments.states.${s}`)} />;
}
