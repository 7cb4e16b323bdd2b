import { describe, expect, it, vi } from 'vitest';
import { accessToken, clearSession, hasSession, onSessionEnd, storeTokens } from './session';

const tokens = { access_token: 'at_1', refresh_token: 'rt_1', token_type: 'Bearer', expires_in: 900, user_id: 'usr_1' };

describe('session', () => {
  it('keeps the refresh token across reloads and the access token in memory', async () => {
    expect(hasSession()).toBe(false);
    storeTokens(tokens);
    expect(hasSession()).toBe(true);
    expect(localStorage.getItem('tunery.refresh_token')).toBe('rt_1');
    expect(Object.values({ ...localStorage })).not.toContain('at_1');
    expect(await accessToken()).toBe('at_1');
  });

  it('tells subscribers when it ends', () => {
    storeTokens(tokens);
    const ended = vi.fn();
    const unsubscribe = onSessionEnd(ended);
    clearSession();
    unsubscribe();
    expect(ended).toHaveBeenCalledOnce();
    expect(hasSession()).toBe(false);
  });

  it('answers null without a session, asking nobody', async () => {
    clearSession();
    expect(await accessToken()).toBeNull();
  });
});
