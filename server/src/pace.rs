//! The per-connection input rate: token buckets that pace a socket's reader.
//!
//! Every input goes through the Router's one lock and every byte it makes the server send is
//! written by the same thread, so one client sending as fast as it can, or sending events that
//! fan out to hundreds of subscribers, would take the server's time from everyone else. Two
//! buckets bound a connection: the messages it sends, and the bytes those messages make the
//! server send beyond their own size (fan-out: broadcasts, notices, listings). Past a bucket's
//! burst, the client's next message is read only when the bucket has refilled: the reader
//! sleeps, the kernel's buffers fill, and TCP slows the client down. Nothing is dropped and no
//! call fails (Python hypha disconnects instead, at 200 messages/s by default, which would cut
//! off our own benchmark's clients).

use std::time::Duration;

use hypha_core::http::RateLimit as Rate;
use tokio::time::Instant;

/// What a WebSocket connection may make the server do; `None` is unlimited.
#[derive(Debug, Clone, Copy)]
pub(crate) struct InputRates {
    /// Messages read.
    pub(crate) messages: Option<Rate>,
    /// Bytes sent to others beyond the size of the message that caused them.
    pub(crate) fan_out_bytes: Option<Rate>,
}

/// Unlike the HTTP API's per-identity buckets (`hypha_core::http`), which refuse a request when
/// empty, this one goes into debt: the message was already read, and the debt is the wait.
#[derive(Debug)]
struct Bucket {
    rate: Rate,
    tokens: f64,
}

impl Bucket {
    fn new(rate: Rate) -> Self {
        Self {
            rate,
            tokens: rate.burst,
        }
    }

    /// Refill for `elapsed`, take `cost`; how long until the bucket is out of debt.
    fn take(&mut self, elapsed: f64, cost: f64) -> Option<Duration> {
        self.tokens = (self.tokens + elapsed * self.rate.per_second).min(self.rate.burst) - cost;
        (self.tokens < 0.0).then(|| Duration::from_secs_f64(-self.tokens / self.rate.per_second))
    }
}

/// One connection's buckets.
#[derive(Debug)]
pub(crate) struct Pace {
    messages: Option<Bucket>,
    fan_out: Option<Bucket>,
    at: Instant,
}

impl Pace {
    pub(crate) fn new(rates: InputRates) -> Self {
        Self {
            messages: rates.messages.map(Bucket::new),
            fan_out: rates.fan_out_bytes.map(Bucket::new),
            at: Instant::now(),
        }
    }

    /// Account for one message that made the server send `fan_out` bytes beyond its own size;
    /// how long to wait before reading the next one.
    fn take_at(&mut self, now: Instant, fan_out: usize) -> Option<Duration> {
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        self.at = now;
        let messages = self.messages.as_mut().and_then(|b| b.take(elapsed, 1.0));
        let bytes = self
            .fan_out
            .as_mut()
            .and_then(|b| b.take(elapsed, fan_out as f64));
        messages.max(bytes)
    }

    /// Account for one message; sleeps while the connection is over a rate.
    pub(crate) async fn take(&mut self, fan_out: usize) {
        if let Some(wait) = self.take_at(Instant::now(), fan_out) {
            tokio::time::sleep(wait).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close_to(wait: Option<Duration>, seconds: f64) -> bool {
        wait.is_some_and(|w| (w.as_secs_f64() - seconds).abs() < 1e-9)
    }

    #[test]
    fn a_burst_passes_then_messages_wait_their_turn() {
        let messages = Rate {
            per_second: 100.0,
            burst: 10.0,
        };
        let mut pace = Pace::new(InputRates {
            messages: Some(messages),
            fan_out_bytes: None,
        });
        let start = pace.at;
        for _ in 0..10 {
            assert_eq!(pace.take_at(start, 0), None);
        }
        let wait = pace.take_at(start, 0);
        assert!(close_to(wait, 0.01), "{wait:?}");
        // Once the reader has waited, the next message owes another hundredth of a second.
        let later = start + wait.unwrap();
        assert!(close_to(pace.take_at(later, 0), 0.01));
        // A quiet while refills the burst, and no more.
        let quiet = later + Duration::from_secs(5);
        for _ in 0..10 {
            assert_eq!(pace.take_at(quiet, 0), None);
        }
        assert!(pace.take_at(quiet, 0).is_some());
    }

    #[test]
    fn fan_out_bytes_are_paced_apart_from_messages() {
        let mut pace = Pace::new(InputRates {
            messages: Some(Rate {
                per_second: 1000.0,
                burst: 1000.0,
            }),
            fan_out_bytes: Some(Rate {
                per_second: 1_000_000.0,
                burst: 2_000_000.0,
            }),
        });
        let start = pace.at;
        // Plain messages (answers the size of the call) never touch the byte bucket.
        for _ in 0..100 {
            assert_eq!(pace.take_at(start, 0), None);
        }
        // An event that reached many subscribers: 3 MB beyond its size, 1 MB over the burst.
        assert!(close_to(pace.take_at(start, 3_000_000), 1.0));
    }
}
