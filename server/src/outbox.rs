//! A connection's queue of frames to write, bounded in bytes: per connection, and across all
//! connections together, so clients that stop reading cannot make the server hold more than the
//! budgets however many of them there are. A frame over budget is refused and the Hub closes
//! the connection at once with [`Outbox::kill`]: the socket, the queue and the session go
//! together, whatever the writer is waiting on.

use std::sync::atomic::{AtomicUsize, Ordering};
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
}

/// The writer's end.
#[derive(Debug)]
pub(crate) struct Inbox {
    rx: mpsc::UnboundedReceiver<(Outbound, usize)>,
    queued: Arc<AtomicUsize>,
    budgets: Arc<Budgets>,
}

/// Refused: the frame would take the connection (or the server) over budget.
#[derive(Debug)]
pub(crate) struct OverBudget;

/// A new connection's outbox, its writer's inbox, and the signal that drops the socket.
pub(crate) fn outbox(budgets: &Arc<Budgets>) -> (Outbox, Inbox, Arc<Notify>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let queued = Arc::new(AtomicUsize::new(0));
    let kill = Arc::new(Notify::new());
    let outbox = Outbox {
        tx,
        queued: queued.clone(),
        budgets: budgets.clone(),
        kill: kill.clone(),
    };
    let inbox = Inbox {
        rx,
        queued,
        budgets: budgets.clone(),
    };
    (outbox, inbox, kill)
}

fn frame_cost(frame: &Frame) -> usize {
    FRAME_OVERHEAD
        + match frame {
            Frame::Binary(bytes) => bytes.len(),
            Frame::Text(text) => text.len(),
        }
}

impl Outbox {
    /// Queue `frame`, unless it takes this connection or the server over budget. One frame
    /// always fits in an empty outbox (a single large answer is not a client that stops
    /// reading), within the server's budget.
    pub(crate) fn push(&self, frame: Frame) -> Result<(), OverBudget> {
        let cost = frame_cost(&frame);
        let mine = self.queued.load(Ordering::Relaxed);
        let all = self.budgets.queued.load(Ordering::Relaxed);
        if (mine > 0 && mine + cost > self.budgets.per_connection)
            || all + cost > self.budgets.total
        {
            return Err(OverBudget);
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

    /// Drop the socket now, queued frames and all.
    pub(crate) fn kill(&self) {
        self.kill.notify_one();
    }

    /// The signal [`Self::kill`] raises.
    pub(crate) fn kill_signal(&self) -> Arc<Notify> {
        self.kill.clone()
    }
}

impl Inbox {
    fn taken(&self, cost: usize) {
        self.queued.fetch_sub(cost, Ordering::Relaxed);
        self.budgets.queued.fetch_sub(cost, Ordering::Relaxed);
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
        assert!(b.push(frame(6000)).is_err(), "over the server's budget");
        drop(inbox_a);
        assert_eq!(budgets.queued(), 0);
        assert!(b.push(frame(6000)).is_ok());
    }
}
