// The signed-in session: the access token lives in memory only; the refresh token in
// localStorage so that a reload stays signed in. Refresh tokens rotate and a reused one revokes
// the session, so refreshes are serialised across tabs with the Web Locks API and each reads
// the newest stored token inside the lock.
import type { components } from './schema.gen';

type TokenView = components['schemas']['TokenView'];

const REFRESH_KEY = 'tunery.refresh_token';
/** Refresh this long before the access token expires. */
const EARLY_MS = 30_000;

let access: { token: string; expiresAt: number } | null = null;
const listeners = new Set<() => void>();

export function hasSession(): boolean {
  return localStorage.getItem(REFRESH_KEY) !== null;
}

export function storeTokens(t: TokenView): void {
  access = { token: t.access_token, expiresAt: Date.now() + t.expires_in * 1000 };
  localStorage.setItem(REFRESH_KEY, t.refresh_token);
}

/** Forgets the session in this tab and tells subscribers (the router sends them to sign-in). */
export function clearSession(): void {
  access = null;
  localStorage.removeItem(REFRESH_KEY);
  listeners.forEach((l) => l());
}

export function onSessionEnd(listener: () => void): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

function fresh(): string | null {
  return access && access.expiresAt - EARLY_MS > Date.now() ? access.token : null;
}

/** A valid access token, refreshed when needed; null when there is no session any more. */
export async function accessToken(): Promise<string | null> {
  return fresh() ?? withRefreshLock(refresh);
}

async function withRefreshLock<T>(f: () => Promise<T>): Promise<T> {
  return typeof navigator !== 'undefined' && navigator.locks ? navigator.locks.request('tunery-refresh', f) : f();
}

async function refresh(): Promise<string | null> {
  const done = fresh();
  if (done) return done;
  const refreshToken = localStorage.getItem(REFRESH_KEY);
  if (!refreshToken) return null;
  const res = await fetch('/api/v1/auth/refresh', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ refresh_token: refreshToken }),
  });
  if (res.status === 401 || res.status === 403) {
    clearSession();
    return null;
  }
  if (!res.ok) throw new Error(`refreshing the session failed with HTTP ${res.status}`);
  storeTokens((await res.json()) as TokenView);
  return fresh();
}
