import { useQuery } from '@tanstack/react-query';
import { api, unwrap } from '../api/client';

/** The signed-in caller: user, organization, permissions and projects. */
export function useMe() {
  return useQuery({ queryKey: ['me'], queryFn: async () => unwrap(await api.GET('/api/v1/me')) });
}

/** Whether the signed-in caller holds an organization-wide permission (false while loading);
 * the server checks again on every call. */
export function useCan(permission: string): boolean {
  return useMe().data?.permissions.includes(permission) ?? false;
}
