// Starts a real `tunery serve` (the binary in TUNERY_BIN) on a fresh data directory and a free
// port, serving this folder's dist/; stops it and removes the directory afterwards.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** The training runtime and the built-in model, when this machine has them (scripts/test.sh
 * exports both); without them the journey's training steps cannot run. */
export function runtimeArgs() {
  const python = process.env.TUNERY_RUNTIME_PYTHON;
  const gguf = process.env.TUNERY_SMOLLM2_GGUF;
  if (!python || !gguf) return null;
  const runtime = new URL('../../runtime', import.meta.url).pathname;
  return ['--runtime-python', python, '--runtime-dir', runtime, '--builtin-model-gguf', gguf, '--training-threads', '2'];
}

export async function startServer() {
  const bin = process.env.TUNERY_BIN;
  if (!bin) throw new Error('TUNERY_BIN is not set: point it at a built tunery binary (scripts/test.sh does)');
  const dataDir = mkdtempSync(join(tmpdir(), 'tunery-web-e2e-'));
  const dist = new URL('../dist', import.meta.url).pathname;
  const args = ['serve', '--listen', '127.0.0.1:0', '--data-dir', join(dataDir, 'data'), '--web-dir', dist, ...(runtimeArgs() ?? [])];
  const child = spawn(bin, args, {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let log = '';
  child.stderr.on('data', (d) => (log += d));
  const url = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`tunery did not start within 60 s:\n${log}`)), 60_000);
    child.on('exit', (code) => reject(new Error(`tunery exited with ${code}:\n${log}`)));
    child.stdout.on('data', (d) => {
      log += d;
      const m = /tunery listening on (http:\/\/\S+)/.exec(log);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
  });
  return {
    url,
    log: () => log,
    async stop() {
      child.kill('SIGTERM');
      await new Promise((r) => (child.exitCode !== null ? r() : child.on('exit', r)));
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** Calls the API as a client would: JSON in, JSON out, failing on an unexpected status. */
export async function call(base, method, path, { token, body, expect = [200, 201] } = {}) {
  const res = await fetch(base + path, {
    method,
    headers: { ...(body ? { 'Content-Type': 'application/json' } : {}), ...(token ? { Authorization: `Bearer ${token}` } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  if (!expect.includes(res.status)) throw new Error(`${method} ${path} answered ${res.status}: ${text}`);
  return { status: res.status, headers: res.headers, json: text ? JSON.parse(text) : null };
}
