//! A token bucket: `burst` tokens, refilled at `per_second`; time is passed in.

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
        let elapsed_s = (now_ms - self.updated_ms).max(0) as f64 / 1000.0;
        self.tokens = (self.tokens + elapsed_s * limit.per_second).min(limit.burst);
        self.updated_ms = now_ms.max(self.updated_ms);
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
}
