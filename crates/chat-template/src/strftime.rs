//! `strftime_now(format)`, the global transformers gives chat templates (Llama 3.2 writes
//! today's date into its system prompt with `strftime_now("%d %b %Y")`).
//!
//! Python calls `datetime.now().strftime(format)` in the process's local time zone; Tunery's
//! servers run in UTC and this crate reads no environment, so the time here is UTC. The
//! directives are those of C's `strftime` in the C locale that such templates use: `%a %A %b
//! %B %d %e %H %I %j %m %M %p %S %y %Y %%`, plus glibc's `%-d`-style flag for no padding.
//! Anything else is copied as written. A caller that needs a fixed date passes the template's
//! own variable (`date_string` for Llama) through `ChatTemplate::with_variable`.

use std::time::{SystemTime, UNIX_EPOCH};

const WEEKDAYS: [&str; 7] = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"];
const MONTHS: [&str; 12] =
    ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"];

/// A civil date and time (proleptic Gregorian, UTC).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DateTime {
    pub year: i64,
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
    /// 0 = Monday.
    pub weekday: u32,
    /// 1-based day of the year.
    pub yday: u32,
}

impl DateTime {
    pub(crate) fn now_utc() -> DateTime {
        let secs = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
        DateTime::from_unix(i64::try_from(secs).unwrap_or(0))
    }

    pub(crate) fn from_unix(secs: i64) -> DateTime {
        let days = secs.div_euclid(86_400);
        let rem = secs.rem_euclid(86_400);
        let (year, month, day) = domain::calendar::civil_from_days(days);
        let jan1 = domain::calendar::days_from_civil(year, 1, 1);
        DateTime {
            year,
            month,
            day,
            hour: (rem / 3600) as u32,
            minute: (rem % 3600 / 60) as u32,
            second: (rem % 60) as u32,
            // 1970-01-01 was a Thursday (3 with Monday = 0).
            weekday: (days + 3).rem_euclid(7) as u32,
            yday: (days - jan1 + 1) as u32,
        }
    }
}

pub(crate) fn strftime(format: &str, t: &DateTime) -> String {
    let mut out = String::with_capacity(format.len() + 16);
    let mut chars = format.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let no_pad = chars.peek() == Some(&'-');
        if no_pad {
            chars.next();
        }
        let number = |value: i64, width: usize| {
            if no_pad {
                value.to_string()
            } else {
                format!("{value:0width$}")
            }
        };
        let hour12 = match t.hour % 12 {
            0 => 12,
            h => h,
        };
        match chars.next() {
            Some('a') => out.push_str(&WEEKDAYS[t.weekday as usize][..3]),
            Some('A') => out.push_str(WEEKDAYS[t.weekday as usize]),
            Some('b') | Some('h') => out.push_str(&MONTHS[t.month as usize - 1][..3]),
            Some('B') => out.push_str(MONTHS[t.month as usize - 1]),
            Some('d') => out.push_str(&number(t.day.into(), 2)),
            Some('e') => out.push_str(&if no_pad { t.day.to_string() } else { format!("{:>2}", t.day) }),
            Some('H') => out.push_str(&number(t.hour.into(), 2)),
            Some('I') => out.push_str(&number(hour12.into(), 2)),
            Some('j') => out.push_str(&number(t.yday.into(), 3)),
            Some('m') => out.push_str(&number(t.month.into(), 2)),
            Some('M') => out.push_str(&number(t.minute.into(), 2)),
            Some('p') => out.push_str(if t.hour < 12 { "AM" } else { "PM" }),
            Some('S') => out.push_str(&number(t.second.into(), 2)),
            Some('y') => out.push_str(&number(t.year.rem_euclid(100), 2)),
            Some('Y') => out.push_str(&t.year.to_string()),
            Some('%') => out.push('%'),
            Some(other) => {
                out.push('%');
                if no_pad {
                    out.push('-');
                }
                out.push(other);
            }
            None => out.push('%'),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_known_instants() {
        // 2024-07-26 13:05:09 UTC, a Friday, day 208.
        let t = DateTime::from_unix(1_721_999_109);
        assert_eq!(t, DateTime { year: 2024, month: 7, day: 26, hour: 13, minute: 5, second: 9, weekday: 4, yday: 208 });
        assert_eq!(strftime("%d %b %Y", &t), "26 Jul 2024");
        assert_eq!(strftime("%A, %B %-d %y %I:%M:%S %p %j %% %Q", &t), "Friday, July 26 24 01:05:09 PM 208 % %Q");
        let epoch = DateTime::from_unix(0);
        assert_eq!(strftime("%Y-%m-%d %H:%M:%S %a", &epoch), "1970-01-01 00:00:00 Thu");
        let leap = DateTime::from_unix(951_782_400); // 2000-02-29
        assert_eq!(strftime("%Y-%m-%d %j %e", &leap), "2000-02-29 060 29");
    }
}
