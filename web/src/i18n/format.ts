// Numbers and dates in the current language's conventions.
import { currentLanguage } from './index';

export function formatNumber(n: number, options?: Intl.NumberFormatOptions): string {
  return new Intl.NumberFormat(currentLanguage(), options).format(n);
}

/** A timestamp in milliseconds since the epoch, as date and time. */
export function formatDateTime(ms: number): string {
  return new Intl.DateTimeFormat(currentLanguage(), { dateStyle: 'medium', timeStyle: 'short' }).format(new Date(ms));
}
