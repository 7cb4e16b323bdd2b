// The typed API client: paths and bodies come from the OpenAPI document (schema.gen.ts is
// generated from docs/openapi.json by `npm run gen:api`), so a contract change that breaks the
// UI fails its type check.
import createClient from 'openapi-fetch';
import type { components, paths } from './schema.gen';
import { accessToken, clearSession } from './session';

export type Schemas = components['schemas'];

export const api = createClient<paths>({ baseUrl: typeof window === 'undefined' ? 'http://localhost' : window.location.origin });

const PUBLIC_PATHS = ['/api/v1/auth/login', '/api/v1/auth/register', '/api/v1/auth/registration', '/api/v1/auth/refresh'];

api.use({
  async onRequest({ request, schemaPath }) {
    if (PUBLIC_PATHS.includes(schemaPath)) return request;
    const token = await accessToken();
    if (token) request.headers.set('Authorization', `Bearer ${token}`);
    return request;
  },
  onResponse({ response, schemaPath }) {
    if (response.status === 401 && !PUBLIC_PATHS.includes(schemaPath)) clearSession();
    return response;
  },
});

/** A failed API call, with the server's message (which says what was wrong and where). */
export class ApiFailure extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly code: string | null,
    readonly param: string | null,
  ) {
    super(message);
  }
}

/** The data of an openapi-fetch result, or an ApiFailure carrying the server's error body. */
export function unwrap<T>(result: { data?: T; error?: unknown; response: Response }): T {
  if (result.response.ok) return result.data as T;
  throw apiFailure(result.response, result.error);
}

/** The ApiFailure for a refused response and its parsed body (the API's error shape, or not). */
export function apiFailure(response: Response, body: unknown): ApiFailure {
  const e = (body ?? {}) as { error?: { message?: string; code?: string | null; param?: string | null } };
  const message = e.error?.message ?? `HTTP ${response.status} ${response.statusText}`;
  return new ApiFailure(response.status, message, e.error?.code ?? null, e.error?.param ?? null);
}
