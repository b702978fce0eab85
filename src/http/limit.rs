//! Per-identity token buckets (http-and-cluster.md §1.10, §5 item 14), on the time drivers pass.
//!
//! The table is bounded: past [`MAX_BUCKETS`] identities, buckets that have refilled to full
//! (they hold no information) are dropped, and if none has, the new identity shares the
//! overflow bucket, so a flood of fresh identities cannot grow memory or escape the limit.

use crate::hashing::HashMap;

use super::RateLimit;
use crate::time::Timestamp;

/// Identities tracked at once.
pub(crate) const MAX_BUCKETS: usize = 100_000;
const OVERFLOW: &str = "\u{0}overflow";

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Timestamp,
}

/// The buckets of every identity seen recently.
#[derive(Debug, Default)]
pub(crate) struct RateLimiter {
    buckets: HashMap<String, Bucket>,
}

impl RateLimiter {
    /// Take one token for `identity`; `Err(seconds)` says when to retry.
    pub(crate) fn take(
        &mut self,
        limit: RateLimit,
        identity: &str,
        now: Timestamp,
    ) -> Result<(), u64> {
        if !self.buckets.contains_key(identity) && self.buckets.len() >= MAX_BUCKETS {
            self.forget_full(limit, now);
        }
        let key = if self.buckets.contains_key(identity) || self.buckets.len() < MAX_BUCKETS {
            identity
        } else {
            OVERFLOW
        };
        let bucket = self.buckets.entry(key.to_owned()).or_insert(Bucket {
            tokens: limit.burst,
            at: now,
        });
        let elapsed = now.0.saturating_sub(bucket.at.0) as f64 / 1000.0;
        bucket.tokens = (bucket.tokens + elapsed * limit.per_second).min(limit.burst);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            let wait = (1.0 - bucket.tokens) / limit.per_second.max(f64::MIN_POSITIVE);
            Err(wait.ceil().max(1.0) as u64)
        }
    }

    fn forget_full(&mut self, limit: RateLimit, now: Timestamp) {
        self.buckets.retain(|_, b| {
            let elapsed = now.0.saturating_sub(b.at.0) as f64 / 1000.0;
            b.tokens + elapsed * limit.per_second < limit.burst
        });
    }

    /// Identities tracked (for tests).
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.buckets.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMIT: RateLimit = RateLimit {
        per_second: 2.0,
        burst: 3.0,
    };

    #[test]
    fn a_burst_then_the_refill_rate() {
        let mut limiter = RateLimiter::default();
        let t = Timestamp(1_000_000);
        for _ in 0..3 {
            assert_eq!(limiter.take(LIMIT, "a", t), Ok(()));
        }
        assert_eq!(limiter.take(LIMIT, "a", t), Err(1));
        // Others are not affected.
        assert_eq!(limiter.take(LIMIT, "b", t), Ok(()));
        // Half a second refills one token.
        assert_eq!(limiter.take(LIMIT, "a", Timestamp(t.0 + 500)), Ok(()));
        assert!(limiter.take(LIMIT, "a", Timestamp(t.0 + 500)).is_err());
    }

    #[test]
    fn fresh_identities_cannot_grow_the_table() {
        let mut limiter = RateLimiter::default();
        let t = Timestamp(0);
        for i in 0..MAX_BUCKETS + 10 {
            let _ = limiter.take(LIMIT, &format!("id{i}"), t);
        }
        assert!(limiter.len() <= MAX_BUCKETS + 1);
        // The overflow bucket is shared, so the flood is limited as one identity.
        let refused = (0..10)
            .filter(|i| limiter.take(LIMIT, &format!("new{i}"), t).is_err())
            .count();
        assert!(refused > 0);
    }
}
