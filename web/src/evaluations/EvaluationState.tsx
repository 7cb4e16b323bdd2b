import { Badge } from 'antd';
import { useTranslation } from 'react-i18next';

type State = 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled';
type Status = 'default' | 'processing' | 'success' | 'error';
const STATUS: Record<State, Status> = { queued: 'default', running: 'processing', succeeded: 'success', failed: 'error', cancelled: 'default' };

export function EvaluationState({ state }: { state: string }) {
  const { t } = useTranslation();
  const s = state as State;
  return <Badge status={STATUS[s] ?? 'default'} text={t(`evaluations.states.${s}`)} />;
}
