import { useQuery } from '@tanstack/react-query';
import { api, unwrap } from '../api/client';

/** The models a person can deploy or evaluate, as select options: fine-tuned models first, then
 * the base models that are ready. */
export function useModelOptions(enabled: boolean) {
  const tuned = useQuery({ queryKey: ['models'], enabled, queryFn: async () => unwrap(await api.GET('/api/v1/models', { params: { query: { limit: 100 } } })) });
  const bases = useQuery({ queryKey: ['base-models'], enabled, queryFn: async () => unwrap(await api.GET('/api/v1/base-models', { params: { query: { limit: 100 } } })) });
  const options = [
    ...(tuned.data?.data ?? []).map((m) => ({ value: m.id, label: `${m.name} (${m.id})` })),
    ...(bases.data?.data ?? []).filter((m) => m.status === 'ready').map((m) => ({ value: m.id, label: `${m.name} (${m.id})` })),
  ];
  return { options, loading: tuned.isPending || bases.isPending };
}
