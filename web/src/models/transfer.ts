// Model files between the browser and the server: a model directory's archive sent as the
// multipart form of `POST /api/v1/base-models/import/archive` (the name before the file, so the
// server checks permissions before storing a byte) with upload progress, and one file of a
// fine-tuned model saved from `GET …/download`: a large one streamed to a file the user picks
// where the browser can write files (Chromium), else gathered in memory and handed to the
// browser's own download.
import { apiFailure, type Schemas } from '../api/client';
import { accessToken } from '../api/session';

/** Sends `file` (tar, tar.gz/bz2/xz or zip of a model directory) as base model `name`. */
export function uploadArchive(name: string, file: File, onProgress: (sentBytes: number, totalBytes: number) => void): Promise<Schemas['BaseModelView']> {
  return accessToken().then(
    (token) =>
      new Promise((resolve, reject) => {
        const form = new FormData();
        form.append('name', name);
        form.append('file', file, file.name);
        const xhr = new XMLHttpRequest();
        xhr.open('POST', '/api/v1/base-models/import/archive');
        if (token) xhr.setRequestHeader('Authorization', `Bearer ${token}`);
        xhr.upload.onprogress = (e) => onProgress(e.loaded, e.lengthComputable ? e.total : file.size);
        xhr.onerror = () => reject(new TypeError('the upload was interrupted by the network; choose the file again to retry'));
        xhr.onload = () => {
          let body: unknown = null;
          try {
            body = JSON.parse(xhr.responseText);
          } catch {
            body = null;
          }
          if (xhr.status >= 200 && xhr.status < 300 && body) resolve(body as Schemas['BaseModelView']);
          else reject(apiFailure(new Response(null, { status: xhr.status, statusText: xhr.statusText }), body));
        };
        xhr.send(form);
      }),
  );
}

type SavePicker = (options: { suggestedName: string }) => Promise<{ createWritable: () => Promise<WritableStream<Uint8Array>> }>;

/** The last part of a file's path: the name it is saved under. */
export function fileName(path: string): string {
  return path.split('/').pop() || 'file';
}

/** Files at least this large stream to disk where the browser allows, not through memory. */
export const STREAM_TO_DISK_BYTES = 256 * 1024 * 1024;

/** Saves one file of a fine-tuned model; resolves when it is written (false: the user cancelled). */
export async function downloadModelFile(modelId: string, path: string, sizeBytes: number): Promise<boolean> {
  const picker = (window as unknown as { showSaveFilePicker?: SavePicker }).showSaveFilePicker;
  let target: WritableStream<Uint8Array> | null = null;
  if (picker && sizeBytes >= STREAM_TO_DISK_BYTES) {
    try {
      target = await (await picker({ suggestedName: fileName(path) })).createWritable();
    } catch (e) {
      if (e instanceof DOMException && e.name === 'AbortError') return false;
      target = null; // No picker here after all (a headless browser): fall back to memory.
    }
  }
  const token = await accessToken();
  const url = `/api/v1/models/${encodeURIComponent(modelId)}/download?path=${encodeURIComponent(path)}`;
  const res = await fetch(url, { headers: token ? { Authorization: `Bearer ${token}` } : {} });
  if (!res.ok || !res.body) {
    await target?.abort();
    throw apiFailure(res, await res.json().catch(() => null));
  }
  if (target) {
    await res.body.pipeTo(target);
    return true;
  }
  const link = document.createElement('a');
  link.href = URL.createObjectURL(await res.blob());
  link.download = fileName(path);
  document.body.appendChild(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(link.href), 60_000);
  return true;
}
