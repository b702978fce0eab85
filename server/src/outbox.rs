//! A connection's queue of frames to write, bounded in bytes: per connection, and across all
//! connections together, so clients that stop reading cannot make the server hold more than the
//! budgets however many of them there are. A frame over budget is refused and the Hub closes
//! the connection at once with [`Outbox::kill`]: the socket, the queue and the session go
//! together, whatever the writer is waiting on.
//!
//! When the server's budget is what a frame would break, the largest queue pays
//! ([`push_or_evict`]), not whoever the frame happens to be for: otherwise a few clients that stop
//! reading could hold the server's budget and have every other client dropped at its next frame.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use hypha_core::Frame;
use tokio::sync::{mpsc, Notify};

/// What every queued frame costs on top of its bytes (the queue node, the frame's own header),
/// so that a flood of empty frames is bounded too.
const FRAME_OVERHEAD: usize = 64;

/// How many bytes may wait: per connection, and for all of them together.
#[derive(Debug)]
pub(crate) struct Budgets {
    per_connection: usize,
    total: usize,
    queued: AtomicUsize,
}

impl Budgets {
    pub(crate) fn new(per_connection: usize, total: usize) -> Arc<Self> {
        Arc::new(Self {
            per_connection,
            total,
            queued: AtomicUsize::new(0),
        })
    }

    /// Bytes waiting in every outbox.
    #[cfg(test)]
    pub(crate) fn queued(&self) -> usize {
        self.queued.load(Ordering::Relaxed)
    }
}

/// What a connection's writer sends.
#[derive(Debug)]
pub(crate) enum Outbound {
    Frame(Frame),
    Close(u16, String),
}

/// The Hub's end.
#[derive(Debug, Clone)]
pub(crate) struct Outbox {
    tx: mpsc::UnboundedSender<(Outbound, usize)>,
    queued: Arc<AtomicUsize>,
    budgets: Arc<Budgets>,
    kill: Arc<Notify>,
    /// Killed: its bytes were given back to the server's budget at once.
    dead: Arc<AtomicBool>,
}

/// The writer's end.
#[derive(Debug)]
pub(crate) struct Inbox {
    rx: mpsc::UnboundedReceiver<(Outbound, usize)>,
    queued: Arc<AtomicUsize>,
    budgets: Arc<Budgets>,
    dead: Arc<AtomicBool>,
}

/// Refused: the frame would take the connection (or the server) over budget.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum OverBudget {
    Connection,
    Server,
}

/// A new connection's outbox, its writer's inbox, and the signal that drops the socket.
pub(crate) fn outbox(budgets: &Arc<Budgets>) -> (Outbox, Inbox, Arc<Notify>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let queued = Arc::new(AtomicUsize::new(0));
    let kill = Arc::new(Notify::new());
    let dead = Arc::new(AtomicBool::new(false));
    let outbox = Outbox {
        tx,
        queued: queued.clone(),
        budgets: budgets.clone(),
        kill: kill.clone(),
        dead: dead.clone(),
    };
    let inbox = Inbox {
        rx,
        queued,
        budgets: budgets.clone(),
        dead,
    };
    (outbox, inbox, kill)
}

/// The bytes of a frame's payload.
pub(crate) fn frame_len(frame: &Frame) -> usize {
    match frame {
        Frame::Binary(bytes) => bytes.len(),
        Frame::Text(text) => text.len(),
    }
}

fn frame_cost(frame: &Frame) -> usize {
    FRAME_OVERHEAD + frame_len(frame)
}

impl Outbox {
    /// Queue `frame`, unless it takes this connection or the server over budget. One frame
    /// always fits in an empty outbox (a single large answer is not a client that stops
    /// reading), within the server's budget.
    pub(crate) fn push(&self, frame: Frame) -> Result<(), OverBudget> {
        let cost = frame_cost(&frame);
        let mine = self.queued.load(Ordering::Relaxed);
        let all = self.budgets.queued.load(Ordering::Relaxed);
        if mine > 0 && mine + cost > self.budgets.per_connection {
            return Err(OverBudget::Connection);
        }
        if all + cost > self.budgets.total {
            return Err(OverBudget::Server);
        }
        self.queued.fetch_add(cost, Ordering::Relaxed);
        self.budgets.queued.fetch_add(cost, Ordering::Relaxed);
        if self.tx.send((Outbound::Frame(frame), cost)).is_err() {
            // The writer is gone; nothing will take the bytes back.
            self.queued.fetch_sub(cost, Ordering::Relaxed);
            self.budgets.queued.fetch_sub(cost, Ordering::Relaxed);
        }
        Ok(())
    }

    /// Ask the writer to send a close frame after what is queued (not counted: one per
    /// connection).
    pub(crate) fn close(&self, code: u16, reason: String) {
        let _ = self.tx.send((Outbound::Close(code, reason), 0));
    }

    /// Bytes waiting for this connection.
    pub(crate) fn queued(&self) -> usize {
        self.queued.load(Ordering::Relaxed)
    }

    /// Drop the socket now, queued frames and all. Its bytes count as free at once (the writer
    /// lets go of them as soon as it runs), so the frame that needed the room can be queued.
    pub(crate) fn kill(&self) {
        if !self.dead.swap(true, Ordering::Relaxed) {
            let freed = self.queued.swap(0, Ordering::Relaxed);
            self.budgets.queued.fetch_sub(freed, Ordering::Relaxed);
        }
        self.kill.notify_one();
    }

    /// The signal [`Self::kill`] raises.
    pub(crate) fn kill_signal(&self) -> Arc<Notify> {
        self.kill.clone()
    }
}

impl Inbox {
    fn taken(&self, cost: usize) {
        // A killed outbox already gave its bytes back.
        if !self.dead.load(Ordering::Relaxed) {
            self.queued.fetch_sub(cost, Ordering::Relaxed);
            self.budgets.queued.fetch_sub(cost, Ordering::Relaxed);
        }
    }

    pub(crate) async fn recv(&mut self) -> Option<Outbound> {
        let (out, cost) = self.rx.recv().await?;
        self.taken(cost);
        Some(out)
    }

    pub(crate) fn try_recv(&mut self) -> Option<Outbound> {
        let (out, cost) = self.rx.try_recv().ok()?;
        self.taken(cost);
        Some(out)
    }
}

impl Drop for Inbox {
    /// What was never written is no longer held: give its bytes back to the server's budget.
    fn drop(&mut self) {
        self.rx.close();
        while let Ok((_, cost)) = self.rx.try_recv() {
            self.taken(cost);
        }
    }
}

/// Queue `frame` on `target`. If the server's budget is full, the largest queue among `others`
/// (not yet killed) is killed to make room when it holds more than `target` would: its
/// connection is returned for the Hub to drop. `Err` means `target` itself must go.
pub(crate) fn push_or_evict<'a, K: Copy>(
    target: &Outbox,
    frame: Frame,
    others: impl Iterator<Item = (K, &'a Outbox)>,
) -> Result<Option<K>, OverBudget> {
    let cost = frame_cost(&frame);
    match target.push(frame.clone()) {
        Err(OverBudget::Server) => {}
        other => return other.map(|()| None),
    }
    let largest = others
        .filter(|(_, o)| !o.dead.load(Ordering::Relaxed) && !Arc::ptr_eq(&o.queued, &target.queued))
        .max_by_key(|(_, o)| o.queued());
    match largest {
        Some((key, hog)) if hog.queued() > target.queued() + cost => {
            hog.kill();
            target.push(frame).map(|()| Some(key))
        }
        _ => Err(OverBudget::Server),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(len: usize) -> Frame {
        Frame::Binary(vec![0; len].into())
    }

    #[test]
    fn a_connection_is_bounded_in_bytes_and_one_frame_always_fits() {
        let budgets = Budgets::new(1000, 1 << 30);
        let (outbox, mut inbox, _) = outbox(&budgets);
        assert!(
            outbox.push(frame(5000)).is_ok(),
            "one frame fits, however big"
        );
        assert!(outbox.push(frame(10)).is_err());
        assert!(inbox.try_recv().is_some());
        assert_eq!(budgets.queued(), 0);
        for _ in 0..10 {
            assert!(outbox.push(frame(30)).is_ok());
        }
        assert!(
            outbox.push(frame(30)).is_err(),
            "{} queued",
            budgets.queued()
        );
    }

    #[test]
    fn the_server_budget_holds_across_connections_and_frees_with_dropped_queues() {
        let budgets = Budgets::new(1 << 20, 10_000);
        let (a, inbox_a, _) = outbox(&budgets);
        let (b, _inbox_b, _) = outbox(&budgets);
        assert!(a.push(frame(6000)).is_ok());
        assert_eq!(b.push(frame(6000)), Err(OverBudget::Server));
        drop(inbox_a);
        assert_eq!(budgets.queued(), 0);
        assert!(b.push(frame(6000)).is_ok());
    }

    #[test]
    fn at_the_server_budget_the_largest_queue_pays() {
        let cost = |len: usize| len + FRAME_OVERHEAD;
        let budgets = Budgets::new(8000, 10_000);
        let (hog, hog_inbox, _) = outbox(&budgets);
        let (small, _small_inbox, _) = outbox(&budgets);
        let (target, mut target_inbox, _) = outbox(&budgets);
        assert!(hog.push(frame(6000)).is_ok());
        assert!(small.push(frame(2000)).is_ok());
        let others = || [(1, &hog), (2, &small), (3, &target)].into_iter();
        // 2,000 more for the target breaks the server's budget: the hog goes, not the target,
        // and its bytes are free at once.
        assert_eq!(push_or_evict(&target, frame(2000), others()), Ok(Some(1)));
        assert!(hog.dead.load(Ordering::Relaxed));
        assert_eq!(budgets.queued(), cost(2000) * 2);
        assert!(
            target_inbox.try_recv().is_some(),
            "the target's frame was queued"
        );
        // The killed hog's writer letting go later gives nothing back twice.
        drop(hog_inbox);
        assert_eq!(budgets.queued(), cost(2000));
        // Room left: queued as usual.
        assert!(target.push(frame(7000)).is_ok());
        assert_eq!(push_or_evict(&small, frame(500), others()), Ok(None));
        // Its own budget is checked first.
        assert_eq!(
            push_or_evict(&target, frame(900), others()),
            Err(OverBudget::Connection)
        );
        // When the connection the frame is for holds the most, it goes itself.
        assert_eq!(
            push_or_evict(&target, frame(800), others()),
            Err(OverBudget::Server)
        );
        assert!(!small.dead.load(Ordering::Relaxed));
    }
}
