import { describe, expect, it } from 'vitest';
import { ApiFailure, unwrap } from './client';

describe('unwrap', () => {
  it('returns the data of a successful call', () => {
    expect(unwrap({ data: { id: 'ds_1' }, response: new Response('{}', { status: 200 }) })).toEqual({ id: 'ds_1' });
  });

  it("throws the server's message, code and parameter", () => {
    const error = { error: { message: "name: at most 100 characters, got 140", type: 'invalid_request_error', param: 'name', code: 'invalid_value' } };
    try {
      unwrap({ error, response: new Response('', { status: 400 }) });
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(ApiFailure);
      const f = e as ApiFailure;
      expect([f.status, f.message, f.code, f.param]).toEqual([400, 'name: at most 100 characters, got 140', 'invalid_value', 'name']);
    }
  });

  it('names the HTTP status when the body is not an API error', () => {
    expect(() => unwrap({ error: 'Bad Gateway', response: new Response('', { status: 502, statusText: 'Bad Gateway' }) })).toThrow('HTTP 502 Bad Gateway');
  });
});
