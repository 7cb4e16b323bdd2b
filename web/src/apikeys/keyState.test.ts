import { describe, expect, it } from 'vitest';
import { buildKeyRequest, keyState } from './keyState';

describe('keyState', () => {
  it('is revoked before expired, and expired at its expiry second', () => {
    expect(keyState({ revoked_at: 5, expires_at: 1 }, 10)).toBe('revoked');
    expect(keyState({ revoked_at: null, expires_at: 10 }, 10)).toBe('expired');
    expect(keyState({ revoked_at: null, expires_at: 11 }, 10)).toBe('active');
    expect(keyState({ revoked_at: null, expires_at: null }, 10)).toBe('active');
  });
});

describe('buildKeyRequest', () => {
  it('sends only the limits given, trims the name and ends the expiry day at 23:59:59 local time', () => {
    const body = buildKeyRequest({ name: '  app ', requests_per_minute: 60, tokens_per_minute: null, deployment_ids: [], expires_on: '2027-01-31' });
    expect(body).toEqual({
      name: 'app',
      limits: { requests_per_minute: 60 },
      expires_at: Math.floor(new Date(2027, 0, 31, 23, 59, 59).getTime() / 1000),
    });
  });

  it('leaves scopes out when none are ticked, so the key gets all of the caller’s', () => {
    expect(buildKeyRequest({ name: 'k', scopes: [] })).toEqual({ name: 'k', limits: {} });
    expect(buildKeyRequest({ name: 'k', scopes: ['deploy_model'], project_id: 'prj_1' })).toEqual({
      name: 'k',
      limits: {},
      scopes: ['deploy_model'],
      project_id: 'prj_1',
    });
  });
});
