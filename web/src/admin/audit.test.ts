import { describe, expect, it } from 'vitest';
import { auditQuery } from './audit';

describe('auditQuery', () => {
  it('sends only the filters given, trimmed, with whole local days', () => {
    expect(auditQuery({})).toEqual({});
    expect(auditQuery({ action: ' auth ', target_id: '  ', since: '2026-12-01', until: '2026-12-07', outcome: 'denied' })).toEqual({
      action: 'auth',
      outcome: 'denied',
      since: new Date(2026, 11, 1, 0, 0, 0).getTime() / 1000,
      until: new Date(2026, 11, 7, 23, 59, 59).getTime() / 1000,
    });
  });
});
