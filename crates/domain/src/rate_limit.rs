//! A token bucket: `burst` tokens, refilled at `per_second`; time is passed in. And the key
//! a client address is throttled under.

use std::net::{IpAddr, Ipv6Addr};

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BucketLimit {
    pub per_second: f64,
    pub burst: f64,
}

#[derive(Debug, Clone)]
pub struct TokenBucket {
    tokens: f64,
    updated_ms: i64,
}

impl TokenBucket {
    pub fn full(limit: BucketLimit, now_ms: i64) -> Self {
        TokenBucket { tokens: limit.burst, updated_ms: now_ms }
    }

    /// Takes one token. On refusal returns how many milliseconds until one is available.
    pub fn take(&mut self, limit: BucketLimit, now_ms: i64) -> Result<f64, i64> {
        self.refill(limit, now_ms);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(self.tokens)
        } else if limit.per_second <= 0.0 {
            Err(i64::MAX)
        } else {
            let missing = 1.0 - self.tokens;
            Err(((missing / limit.per_second) * 1000.0).ceil() as i64)
        }
    }

    /// Gives one token back (a charged attempt turned out fine); never above the burst.
    pub fn refund(&mut self, limit: BucketLimit, now_ms: i64) {
        self.refill(limit, now_ms);
        self.tokens = (self.tokens + 1.0).min(limit.burst);
    }

    /// Whether the bucket has refilled completely by `now_ms`: it then holds no state worth
    /// keeping (a fresh bucket would be the same).
    pub fn is_full(&self, limit: BucketLimit, now_ms: i64) -> bool {
        let elapsed_s = (now_ms - self.updated_ms).max(0) as f64 / 1000.0;
        self.tokens + elapsed_s * limit.per_second >= limit.burst
    }

    fn refill(&mut self, limit: BucketLimit, now_ms: i64) {
        let elapsed_s = (now_ms - self.updated_ms).max(0) as f64 / 1000.0;
        self.tokens = (self.tokens + elapsed_s * limit.per_second).min(limit.burst);
        self.updated_ms = now_ms.max(self.updated_ms);
    }
}

/// The key a client address is throttled under: an IPv4 address as it is (also when written
/// as IPv4-mapped IPv6), an IPv6 address by its /64 prefix, since one subscriber usually
/// holds a whole /64 and could otherwise rotate through it. Anything else is kept verbatim.
pub fn address_key(ip: &str) -> String {
    match ip.trim().parse::<IpAddr>() {
        Ok(IpAddr::V4(v4)) => v4.to_string(),
        Ok(IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                format!("{}/64", Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
        Err(_) => ip.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_refill() {
        let limit = BucketLimit { per_second: 2.0, burst: 3.0 };
        let mut b = TokenBucket::full(limit, 0);
        assert!(b.take(limit, 0).is_ok());
        assert!(b.take(limit, 0).is_ok());
        assert!(b.take(limit, 0).is_ok());
        assert_eq!(b.take(limit, 0), Err(500));
        assert!(b.take(limit, 500).is_ok());
        assert_eq!(b.take(limit, 500), Err(500));
        // refill never exceeds the burst
        assert!(b.take(limit, 100_000).is_ok());
        assert!(b.take(limit, 100_000).is_ok());
        assert!(b.take(limit, 100_000).is_ok());
        assert!(b.take(limit, 100_000).is_err());
    }

    #[test]
    fn refund_gives_back_at_most_the_burst() {
        let limit = BucketLimit { per_second: 1.0, burst: 2.0 };
        let mut b = TokenBucket::full(limit, 0);
        assert!(b.take(limit, 0).is_ok());
        assert!(b.take(limit, 0).is_ok());
        assert!(b.take(limit, 0).is_err());
        b.refund(limit, 0);
        assert!(b.take(limit, 0).is_ok());
        assert!(b.take(limit, 0).is_err());
        // Refunds never exceed the burst.
        let mut full = TokenBucket::full(limit, 0);
        full.refund(limit, 0);
        full.refund(limit, 0);
        assert!(full.take(limit, 0).is_ok());
        assert!(full.take(limit, 0).is_ok());
        assert!(full.take(limit, 0).is_err());
    }

    #[test]
    fn full_once_refilled() {
        let limit = BucketLimit { per_second: 2.0, burst: 4.0 };
        let mut b = TokenBucket::full(limit, 0);
        assert!(b.is_full(limit, 0));
        assert!(b.take(limit, 0).is_ok());
        assert!(b.take(limit, 0).is_ok());
        assert!(!b.is_full(limit, 0));
        assert!(!b.is_full(limit, 999));
        assert!(b.is_full(limit, 1000));
    }

    #[test]
    fn address_keys() {
        for (ip, key) in [
            ("192.0.2.7", "192.0.2.7"),
            (" 192.0.2.7 ", "192.0.2.7"),
            ("::ffff:192.0.2.7", "192.0.2.7"),
            ("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"),
            ("2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::/64"),
            ("2001:db8:1:3::1", "2001:db8:1:3::/64"),
            ("::1", "::/64"),
            ("", ""),
            ("not an address", "not an address"),
        ] {
            assert_eq!(address_key(ip), key, "{ip:?}");
        }
    }
}
