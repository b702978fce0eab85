//! Time as the drivers hand it in: milliseconds since the UNIX epoch. Nothing here reads a clock.

use std::ops::Add;
use std::time::Duration;

/// A point in time, in milliseconds since the UNIX epoch, supplied by the driver.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp(pub u64);

impl Timestamp {
    /// Whole seconds since the epoch (what JWT claims use).
    pub fn as_secs(self) -> u64 {
        self.0 / 1000
    }

    /// Milliseconds until `later`, zero if it has passed.
    pub fn until(self, later: Self) -> Duration {
        Duration::from_millis(later.0.saturating_sub(self.0))
    }
}

impl Add<Duration> for Timestamp {
    type Output = Self;

    fn add(self, rhs: Duration) -> Self {
        Self(
            self.0
                .saturating_add(u64::try_from(rhs.as_millis()).unwrap_or(u64::MAX)),
        )
    }
}
