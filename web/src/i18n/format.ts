// Numbers and dates in the current language's conventions.
import { currentLanguage } from './index';

export function formatNumber(n: number, options?: Intl.NumberFormatOptions): string {
  return new Intl.NumberFormat(currentLanguage(), options).format(n);
}

/** A timestamp in milliseconds since the epoch, as date and time. */
export function formatDateTime(ms: number): string {
  return new Intl.DateTimeFormat(currentLanguage(), { dateStyle: 'medium', timeStyle: 'short' }).format(new Date(ms));
}

/** A size in bytes with a binary unit (KiB, MiB, GiB). */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${formatNumber(value, { maximumFractionDigits: unit === 0 ? 0 : 1 })} ${units[unit]}`;
}

/** A timestamp in seconds since the epoch (the API's `created_at`), as date and time. */
export function formatUnixTime(seconds: number): string {
  return formatDateTime(seconds * 1000);
}

/** A duration in seconds, as hours, minutes and seconds in the current language. */
export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  const parts: [number, Intl.NumberFormatOptions['unit']][] = [
    [Math.floor(s / 3600), 'hour'],
    [Math.floor((s % 3600) / 60), 'minute'],
    [s % 60, 'second'],
  ];
  const shown = parts.filter(([n], i) => n > 0 || (i === 2 && s < 60));
  return shown.map(([n, unit]) => formatNumber(n, { style: 'unit', unit, unitDisplay: 'short' })).join(' ');
}
