import { useBaseModels, useFineTunedModels } from '../api/queries';

/** The models a person can deploy or evaluate, as select options: fine-tuned models first, then
 * the base models that are ready. */
export function useModelOptions(enabled: boolean) {
  const tuned = useFineTunedModels(enabled);
  const bases = useBaseModels(enabled);
  const options = [
    ...(tuned.data?.data ?? []).map((m) => ({ value: m.id, label: `${m.name} (${m.id})` })),
    ...(bases.data?.data ?? []).filter((m) => m.status === 'ready').map((m) => ({ value: m.id, label: `${m.name} (${m.id})` })),
  ];
  return { options, loading: tuned.isPending || bases.isPending };
}
