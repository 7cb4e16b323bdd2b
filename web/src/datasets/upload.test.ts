import { describe, expect, it } from 'vitest';
import { partSize, PART_MIN_BYTES } from './upload';
import { formatBytes } from '../i18n/format';
import { setLanguage } from '../i18n';

describe('upload parts', () => {
  it('are at least 1 MiB and never more than the server allows per file', () => {
    expect(partSize(10)).toBe(PART_MIN_BYTES);
    expect(partSize(3 * PART_MIN_BYTES)).toBe(PART_MIN_BYTES);
    const hundredGiB = 100 * 1024 ** 3;
    expect(Math.ceil(hundredGiB / partSize(hundredGiB))).toBeLessThanOrEqual(10_000);
  });
});

describe('sizes', () => {
  it('read in the chosen language', async () => {
    await setLanguage('en');
    expect(formatBytes(512)).toBe('512 B');
    expect(formatBytes(2.5 * 1024 * 1024)).toBe('2.5 MiB');
    expect(formatBytes(1536 * 1024 ** 3)).toBe('1.5 TiB');
    await setLanguage('zh-CN');
    expect(formatBytes(1234 * 1024 ** 4)).toBe('1,234 TiB');
    await setLanguage('en');
  });
});
