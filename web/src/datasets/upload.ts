// A file sent to the server in parts (the resumable upload API): every part carries its
// SHA-256 and the completion the whole file's, so nothing corrupted becomes a dataset. A part
// that fails for the network (or a 5xx) is sent again after a growing pause; an upload
// interrupted by a closed tab resumes when the same file is chosen again (its id is kept in
// localStorage), sending only the parts the server lacks.
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex } from '@noble/hashes/utils.js';
import { api, ApiFailure, unwrap, type Schemas } from '../api/client';

type Upload = Schemas['UploadView'];
export type UploadTarget = Schemas['UploadTarget'];

/** Parts are at least 1 MiB, and never more than the server's 10,000 per file. */
export const PART_MIN_BYTES = 1 << 20;
const MAX_PARTS = 9_000;
const MAX_ATTEMPTS = 8;

export function partSize(bytes: number): number {
  return Math.max(PART_MIN_BYTES, Math.ceil(bytes / MAX_PARTS));
}

export type UploadProgress =
  | { phase: 'sending'; sentBytes: number; totalBytes: number }
  | { phase: 'retrying'; sentBytes: number; totalBytes: number; attempt: number; waitSeconds: number }
  | { phase: 'processing'; processedBytes: number; totalBytes: number };

const resumeKey = (f: File) => `tunery.upload:${f.name}:${f.size}:${f.lastModified}`;

/** Whether a failure may pass if the same request is sent again. */
function transient(e: unknown): boolean {
  return e instanceof TypeError || (e instanceof ApiFailure && (e.status >= 500 || e.status === 429));
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function again<T>(f: () => Promise<T>, onRetry: (attempt: number, waitSeconds: number) => void): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await f();
    } catch (e) {
      if (!transient(e) || attempt >= MAX_ATTEMPTS) throw e;
      const waitSeconds = Math.min(2 ** (attempt - 1), 15);
      onRetry(attempt, waitSeconds);
      await sleep(waitSeconds * 1000);
    }
  }
}

async function resumable(file: File): Promise<Upload | null> {
  const id = localStorage.getItem(resumeKey(file));
  if (!id) return null;
  const { data } = await api.GET('/api/v1/uploads/{upload_id}', { params: { path: { upload_id: id } } });
  return data && data.status === 'pending' ? data : null;
}

/** Sends `file` and waits until the server has made it a dataset version. */
export async function uploadFile(file: File, target: UploadTarget, onProgress: (p: UploadProgress) => void): Promise<Upload> {
  const totalBytes = file.size;
  const upload =
    (await resumable(file)) ??
    unwrap(await api.POST('/api/v1/uploads', { body: { filename: file.name, bytes: totalBytes, mime_type: file.type || null } }));
  localStorage.setItem(resumeKey(file), upload.id);
  const received = new Map(upload.parts.map((p) => [p.part_number, p.sha256]));
  const size = partSize(totalBytes);
  const count = Math.max(1, Math.ceil(totalBytes / size));
  const whole = sha256.create();
  let sentBytes = 0;
  for (let n = 1; n <= count; n++) {
    const bytes = new Uint8Array(await file.slice((n - 1) * size, Math.min(n * size, totalBytes)).arrayBuffer());
    whole.update(bytes);
    const hex = bytesToHex(sha256(bytes));
    if (received.get(n) !== hex) {
      await again(
        async () =>
          unwrap(
            await api.PUT('/api/v1/uploads/{upload_id}/parts/{part_number}', {
              params: { path: { upload_id: upload.id, part_number: n }, header: { 'x-content-sha256': hex } },
              body: bytes as unknown as number[],
              bodySerializer: (b) => b as unknown as BodyInit,
              headers: { 'Content-Type': 'application/octet-stream' },
            }),
          ),
        (attempt, waitSeconds) => onProgress({ phase: 'retrying', sentBytes, totalBytes, attempt, waitSeconds }),
      );
    }
    sentBytes += bytes.length;
    onProgress({ phase: 'sending', sentBytes, totalBytes });
  }
  const part_numbers = Array.from({ length: count }, (_, i) => i + 1);
  const digest = bytesToHex(whole.digest());
  let done = await again(
    async () => unwrap(await api.POST('/api/v1/uploads/{upload_id}/complete', { params: { path: { upload_id: upload.id } }, body: { part_numbers, sha256: digest, dataset: target } })),
    (attempt, waitSeconds) => onProgress({ phase: 'retrying', sentBytes, totalBytes, attempt, waitSeconds }),
  );
  localStorage.removeItem(resumeKey(file));
  while (done.status === 'processing' || done.status === 'pending') {
    onProgress({ phase: 'processing', processedBytes: done.processed_bytes, totalBytes });
    await sleep(500);
    done = await again(
      async () => unwrap(await api.GET('/api/v1/uploads/{upload_id}', { params: { path: { upload_id: upload.id } } })),
      () => undefined,
    );
  }
  if (done.status !== 'completed') throw new ApiFailure(422, done.error ?? `the upload ended ${done.status}`, null, null);
  return done;
}
