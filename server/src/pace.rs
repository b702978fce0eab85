//! The per-connection message rate: a token bucket that paces a socket's reader.
//!
//! Every input goes through the Router's one lock, so one client sending as fast as it can
//! would take the server's time from everyone else. Past its burst, a client's next message is
//! read only when a token is due: the reader sleeps, the kernel's buffers fill, and TCP slows
//! the client down. Nothing is dropped and no call fails (Python hypha disconnects instead, at
//! 200 messages/s by default, which would cut off our own benchmark's clients).

use std::time::Duration;

use tokio::time::Instant;

/// Messages a connection may send: `per_second` on average, `burst` at once.
#[derive(Debug, Clone, Copy)]
pub(crate) struct MessageRate {
    pub(crate) per_second: f64,
    pub(crate) burst: f64,
}

/// One connection's bucket.
#[derive(Debug)]
pub(crate) struct Pace {
    rate: MessageRate,
    tokens: f64,
    at: Instant,
}

impl Pace {
    pub(crate) fn new(rate: MessageRate) -> Self {
        Self {
            rate,
            tokens: rate.burst,
            at: Instant::now(),
        }
    }

    /// Take a token for the message just read; how long to wait before reading the next one.
    fn take_at(&mut self, now: Instant) -> Option<Duration> {
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.rate.per_second).min(self.rate.burst) - 1.0;
        self.at = now;
        (self.tokens < 0.0).then(|| Duration::from_secs_f64(-self.tokens / self.rate.per_second))
    }

    /// Account for one message; sleeps while the connection is over its rate.
    pub(crate) async fn take(&mut self) {
        if let Some(wait) = self.take_at(Instant::now()) {
            tokio::time::sleep(wait).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_passes_then_messages_wait_their_turn() {
        let rate = MessageRate {
            per_second: 100.0,
            burst: 10.0,
        };
        let mut pace = Pace::new(rate);
        let start = pace.at;
        for _ in 0..10 {
            assert_eq!(pace.take_at(start), None);
        }
        let wait = pace.take_at(start).expect("over the burst");
        assert!((wait.as_secs_f64() - 0.01).abs() < 1e-9, "{wait:?}");
        // Once the reader has waited, the next message owes another hundredth of a second.
        let later = start + wait;
        let next = pace.take_at(later).expect("still at the rate");
        assert!((next.as_secs_f64() - 0.01).abs() < 1e-9, "{next:?}");
        // A quiet second refills the burst, and no more.
        let quiet = later + Duration::from_secs(5);
        for _ in 0..10 {
            assert_eq!(pace.take_at(quiet), None);
        }
        assert!(pace.take_at(quiet).is_some());
    }
}
