// A key's state as the list shows it, from its timestamps (Unix seconds).
import type { Schemas } from '../api/client';

export type KeyState = 'active' | 'revoked' | 'expired';

export function keyState(k: Pick<Schemas['ApiKeyView'], 'revoked_at' | 'expires_at'>, nowSeconds: number): KeyState {
  if (k.revoked_at) return 'revoked';
  if (k.expires_at != null && k.expires_at <= nowSeconds) return 'expired';
  return 'active';
}

/** The request body for the form's fields: only what was given, expiry at the end of the day. */
export type KeyFields = {
  name: string;
  scopes?: string[];
  project_id?: string;
  expires_on?: string;
  requests_per_minute?: number | null;
  tokens_per_minute?: number | null;
  monthly_tokens?: number | null;
  deployment_ids?: string[];
};

export function buildKeyRequest(f: KeyFields): Schemas['CreateApiKeyRequest'] {
  const limits: Schemas['KeyLimits'] = {};
  if (f.requests_per_minute) limits.requests_per_minute = f.requests_per_minute;
  if (f.tokens_per_minute) limits.tokens_per_minute = f.tokens_per_minute;
  if (f.monthly_tokens) limits.monthly_tokens = f.monthly_tokens;
  if (f.deployment_ids?.length) limits.deployment_ids = f.deployment_ids;
  const body: Schemas['CreateApiKeyRequest'] = { name: f.name.trim(), limits };
  if (f.scopes?.length) body.scopes = f.scopes as Schemas['CreateApiKeyRequest']['scopes'];
  if (f.project_id) body.project_id = f.project_id;
  if (f.expires_on) body.expires_at = Math.floor(new Date(`${f.expires_on}T23:59:59`).getTime() / 1000);
  return body;
}
