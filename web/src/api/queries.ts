// Queries more than one page asks: one cache key and one request shape each, so the pages that
// share them share the cached answer.
import { useQuery } from '@tanstack/react-query';
import { api, unwrap } from './client';

/** Items per request when a picker reads a whole list. */
const PICKER_PAGE = 100;

/** Every page of a list the server pages by cursor (`after` = the last id seen), for pickers and
 * lookups that must offer every item, not the first hundred. */
export async function everyPage<T extends { id: string }>(
  fetchPage: (query: { limit: number; after?: string }) => Promise<{ data: T[]; has_more: boolean }>,
): Promise<{ data: T[]; has_more: false }> {
  const data: T[] = [];
  let after: string | undefined;
  for (;;) {
    const page = await fetchPage({ limit: PICKER_PAGE, ...(after ? { after } : {}) });
    data.push(...page.data);
    const last = page.data[page.data.length - 1];
    if (!page.has_more || !last) return { data, has_more: false };
    after = last.id;
  }
}

export function useRegistration() {
  return useQuery({ queryKey: ['registration'], queryFn: async () => unwrap(await api.GET('/api/v1/auth/registration')) });
}

export function useDatasets(enabled = true) {
  return useQuery({ queryKey: ['datasets'], enabled, queryFn: async () => everyPage(async (query) => unwrap(await api.GET('/api/v1/datasets', { params: { query } }))) });
}

/** Asked again every 3 s while an import runs, so its state changes on the page. */
export function useBaseModels(enabled = true) {
  return useQuery({
    queryKey: ['base-models'],
    enabled,
    refetchInterval: (q) => (q.state.data?.data.some((b) => b.status === 'importing') ? 3_000 : false),
    queryFn: async () => everyPage(async (query) => unwrap(await api.GET('/api/v1/base-models', { params: { query } }))),
  });
}

export function useFineTunedModels(enabled = true) {
  return useQuery({ queryKey: ['models'], enabled, queryFn: async () => everyPage(async (query) => unwrap(await api.GET('/api/v1/models', { params: { query } }))) });
}

/** `fresh`: ask again on every mount (the projects page: someone may just have added you). */
export function useProjects(enabled = true, fresh = false) {
  return useQuery({
    queryKey: ['projects'],
    enabled,
    refetchOnMount: fresh ? 'always' : true,
    queryFn: async () => everyPage(async (query) => unwrap(await api.GET('/api/v1/projects', { params: { query } }))),
  });
}

/** The organization's users (needs `manage_users`; others get an error and show ids). */
export function useUsers(enabled = true) {
  return useQuery({ queryKey: ['users'], enabled, queryFn: async () => everyPage(async (query) => unwrap(await api.GET('/api/v1/users', { params: { query } }))) });
}

export function useDeployments(enabled = true, refetchInterval?: number) {
  return useQuery({
    queryKey: ['deployments'],
    enabled,
    refetchInterval,
    queryFn: async () => everyPage(async (query) => unwrap(await api.GET('/api/v1/deployments', { params: { query } }))),
  });
}

/** Nodes, devices, the queue and the running jobs (`view_metrics`). */
export function useCluster(enabled = true) {
  return useQuery({ queryKey: ['cluster'], refetchInterval: 5_000, enabled, queryFn: async () => unwrap(await api.GET('/api/v1/cluster')) });
}

/** The organization's quotas with this month's use (`view_metrics`). */
export function useQuotas(refetchInterval?: number, enabled = true) {
  return useQuery({ queryKey: ['quotas'], refetchInterval, enabled, queryFn: async () => unwrap(await api.GET('/api/v1/quotas')) });
}

/** A project's configuration templates of fine-tuning jobs (none without a project); asked
 * again on every mount, since colleagues save them. */
export function useJobTemplates(projectId: string | null | undefined) {
  return useQuery({
    queryKey: ['job-templates', projectId],
    enabled: Boolean(projectId),
    refetchOnMount: 'always',
    queryFn: async () =>
      unwrap(await api.GET('/api/v1/projects/{project_id}/job-templates', { params: { path: { project_id: projectId as string } } })),
  });
}
