import { Badge } from 'antd';
import { useTranslation } from 'react-i18next';

type State = 'stopped' | 'starting' | 'ready' | 'idle' | 'failed';
type Status = 'default' | 'processing' | 'warning' | 'success' | 'error';
const STATUS: Record<State, Status> = { stopped: 'default', starting: 'processing', ready: 'success', idle: 'warning', failed: 'error' };

export function DeploymentState({ state }: { state: string }) {
  const { t } = useTranslation();
  const s = state as State;
  return <Badge status={STATUS[s] ?? 'default'} text={t(`deployments.states.${s}`)} />;
}
