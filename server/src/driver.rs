//! The driver loop around the sans-IO Router: every input goes through [`Hub`], which calls one
//! `handle_*`, drains transmits and events into per-connection outboxes, and re-arms the single
//! timer task. The Router sits behind a std `Mutex` that is never held across an `.await`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hypha_core::http::{HttpId, HttpOutput, HttpRequest};
use hypha_core::{close_code, Config, ConnId, Event, Frame, Router, Timestamp};
use tokio::sync::{mpsc, watch};
use tracing::{debug, info, warn};

use crate::outbox::{frame_len, push_or_evict, Budgets, Outbox};
use crate::pace::InputRates;

/// How long a connection asked to close may take to write its close frame before its socket is
/// dropped anyway (its client may have stopped reading).
const CLOSE_GRACE: Duration = Duration::from_secs(2);

struct State {
    router: Router,
    outboxes: HashMap<ConnId, Outbox>,
    /// Response parts of open HTTP requests. Unbounded channels, bounded by the Router: a
    /// response has at most a window of body chunks not yet taken by hyper.
    http_outboxes: HashMap<HttpId, mpsc::UnboundedSender<HttpOutput>>,
}

/// The shared server: the Router, the outboxes, and the timer's deadline.
pub(crate) struct Hub {
    state: Mutex<State>,
    /// Where frames for clients of other servers, and news for them, go (`--redis-uri`).
    cluster: std::sync::OnceLock<crate::cluster::ClusterLink>,
    budgets: Arc<Budgets>,
    input_rates: InputRates,
    next_conn: AtomicU64,
    next_http: AtomicU64,
    deadline: watch::Sender<Option<Timestamp>>,
}

fn now() -> Timestamp {
    let ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    Timestamp(u64::try_from(ms).unwrap_or(u64::MAX))
}

impl Hub {
    pub(crate) fn new(config: Config, budgets: Arc<Budgets>, input_rates: InputRates) -> Self {
        Self {
            budgets,
            input_rates,
            state: Mutex::new(State {
                router: Router::new(config),
                outboxes: HashMap::new(),
                http_outboxes: HashMap::new(),
            }),
            cluster: std::sync::OnceLock::new(),
            next_conn: AtomicU64::new(1),
            next_http: AtomicU64::new(1),
            deadline: watch::channel(None).0,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock is a bug in the Router; keep serving the others.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// An HTTP request head arrived; its response parts go to `outbox`.
    /// An HTTP request head arrived (with its whole, empty body if `bodiless`); its response
    /// parts go to `outbox`.
    pub(crate) fn http_request(
        &self,
        request: HttpRequest,
        bodiless: bool,
        outbox: mpsc::UnboundedSender<HttpOutput>,
    ) -> HttpId {
        let id = HttpId(self.next_http.fetch_add(1, Ordering::Relaxed));
        let mut state = self.lock();
        state.http_outboxes.insert(id, outbox);
        let at = now();
        state.router.handle_http_request(at, id, request);
        if bodiless {
            state.router.handle_http_end(at, id);
        }
        self.drain(&mut state);
        id
    }

    /// A piece of a request body; false once the Router has ended the request.
    pub(crate) fn http_body(&self, id: HttpId, chunk: &[u8]) -> bool {
        let mut state = self.lock();
        if !state.http_outboxes.contains_key(&id) {
            return false;
        }
        state.router.handle_http_body(now(), id, chunk);
        self.drain(&mut state);
        state.http_outboxes.contains_key(&id)
    }

    pub(crate) fn http_end(&self, id: HttpId) {
        let mut state = self.lock();
        if state.http_outboxes.contains_key(&id) {
            state.router.handle_http_end(now(), id);
            self.drain(&mut state);
        }
    }

    pub(crate) fn http_drained(&self, id: HttpId) {
        let mut state = self.lock();
        if state.http_outboxes.contains_key(&id) {
            state.router.handle_http_drained(now(), id);
            self.drain(&mut state);
        }
    }

    pub(crate) fn http_cancel(&self, id: HttpId) {
        let mut state = self.lock();
        if state.http_outboxes.remove(&id).is_some() {
            state.router.handle_http_cancel(now(), id);
            self.drain(&mut state);
        }
    }

    /// Join a cluster: from now on frames for other servers' clients and news go to `link`.
    pub(crate) fn set_cluster(&self, link: crate::cluster::ClusterLink) {
        let _ = self.cluster.set(link);
    }

    /// Feed the Router one of the cluster's inputs (router/cluster.rs), then deliver.
    pub(crate) fn cluster_input(&self, input: impl FnOnce(&mut Router, Timestamp)) {
        let mut state = self.lock();
        input(&mut state.router, now());
        self.drain(&mut state);
    }

    /// What the other servers must know of this server's clients (to rebuild Redis).
    pub(crate) fn cluster_snapshot(&self) -> Vec<hypha_core::ClusterOut> {
        self.lock().router.cluster_snapshot()
    }

    /// Close the connection of the local client at `addr`, if there is one (another server
    /// holds it now, or held it first).
    pub(crate) fn close_local_client(&self, addr: &hypha_core::ClientAddr, reason: &str) {
        let mut state = self.lock();
        let Some(conn) = state.router.registry().client(addr).map(|c| c.conn) else {
            return;
        };
        if let Some(outbox) = state.outboxes.remove(&conn) {
            info!(client = %addr, reason, "closing a client another server holds");
            outbox.close(close_code::POLICY_VIOLATION, reason.to_owned());
            state.router.handle_disconnect(now(), conn);
            self.drain(&mut state);
        }
    }

    /// The outbox budgets new connections share.
    pub(crate) fn budgets(&self) -> &Arc<Budgets> {
        &self.budgets
    }

    /// The rates each WebSocket connection's input is read at.
    pub(crate) fn input_rates(&self) -> InputRates {
        self.input_rates
    }

    /// A socket sent its authentication frame.
    pub(crate) fn connect(&self, hello: &str, outbox: Outbox) -> ConnId {
        let conn = ConnId(self.next_conn.fetch_add(1, Ordering::Relaxed));
        let mut state = self.lock();
        state.outboxes.insert(conn, outbox);
        state.router.handle_connect(now(), conn, hello);
        self.drain(&mut state);
        conn
    }

    /// A frame from `conn`; returns the bytes it made the server queue for WebSocket clients.
    pub(crate) fn message(&self, conn: ConnId, frame: Frame) -> usize {
        let mut state = self.lock();
        state.router.handle_message(now(), conn, frame);
        self.drain(&mut state)
    }

    pub(crate) fn disconnect(&self, conn: ConnId) {
        let mut state = self.lock();
        state.outboxes.remove(&conn);
        state.router.handle_disconnect(now(), conn);
        self.drain(&mut state);
    }

    /// Ask every connection to close (server shutdown).
    pub(crate) fn close_all(&self) {
        let state = self.lock();
        for outbox in state.outboxes.values() {
            outbox.close(close_code::GOING_AWAY, "server shutting down".into());
        }
    }

    fn timeout(&self) {
        let mut state = self.lock();
        state.router.handle_timeout(now());
        self.drain(&mut state);
        self.rearm(&state, true);
    }

    /// Deliver everything the Router produced, then re-arm the timer.
    /// Returns the bytes queued for WebSocket clients.
    fn drain(&self, state: &mut State) -> usize {
        let mut queued = 0;
        loop {
            let (too_slow, bytes) = self.drain_once(state);
            queued += bytes;
            if too_slow.is_empty() {
                break;
            }
            // A connection over its budget goes now, not when its writer gets to it: its socket
            // (the writer may be parked on it), its queue, and its session (which the Router
            // releases at once, telling those who wait on it).
            for conn in too_slow {
                if let Some(outbox) = state.outboxes.remove(&conn) {
                    warn!(%conn, "outbox over budget: dropping a connection that does not read");
                    outbox.kill();
                    state.router.handle_disconnect(now(), conn);
                }
            }
        }
        self.rearm(state, false);
        queued
    }

    /// Deliver what the Router produced; the connections whose outbox refused a frame, and the
    /// bytes queued for WebSocket clients.
    fn drain_once(&self, state: &mut State) -> (Vec<ConnId>, usize) {
        let mut too_slow = Vec::new();
        let mut queued = 0;
        // News first: a client told its service is registered may call it through another
        // server at once, and the news should be on its way there before the answer is.
        while let Some(news) = state.router.poll_cluster() {
            if let Some(link) = self.cluster.get() {
                link.send(crate::cluster::Outgoing::News(news));
            }
        }
        while let Some(transmit) = state.router.poll_transmit() {
            let conn = transmit.conn;
            if let Some(server) = state.router.remote_server(conn) {
                if let (Some(link), Frame::Binary(bytes)) = (self.cluster.get(), transmit.frame) {
                    let server = server.to_owned();
                    link.send(crate::cluster::Outgoing::Frame { server, bytes });
                }
                continue;
            }
            if too_slow.contains(&conn) {
                continue;
            }
            if let Some(outbox) = state.outboxes.get(&conn) {
                let others = state.outboxes.iter().map(|(c, o)| (*c, o));
                let len = frame_len(&transmit.frame);
                match push_or_evict(outbox, transmit.frame, others) {
                    Ok(None) => queued += len,
                    Ok(Some(evicted)) => {
                        queued += len;
                        too_slow.push(evicted);
                    }
                    Err(_) => too_slow.push(conn),
                }
            }
        }
        while let Some(output) = state.router.poll_http() {
            let (id, last) = match &output {
                HttpOutput::Head { id, .. } | HttpOutput::Body { id, .. } => (*id, false),
                HttpOutput::End { id } | HttpOutput::Abort { id } => (*id, true),
            };
            let outbox = if last {
                state.http_outboxes.remove(&id)
            } else {
                state.http_outboxes.get(&id).cloned()
            };
            if let Some(outbox) = outbox {
                let _ = outbox.send(output);
            }
        }
        while let Some(event) = state.router.poll_event() {
            match event {
                Event::Close { conn, code, reason } => {
                    debug!(%conn, code, %reason, "closing connection");
                    if let Some(outbox) = state.outboxes.remove(&conn) {
                        outbox.close(code, reason);
                        // A writer stuck on a client that does not read still lets go.
                        let kill = outbox.kill_signal();
                        tokio::spawn(async move {
                            tokio::time::sleep(CLOSE_GRACE).await;
                            kill.notify_one();
                        });
                    }
                }
                Event::ClientConnected {
                    client,
                    user_id,
                    conn,
                } => info!(%client, %user_id, %conn, "client connected"),
                Event::ClientDisconnected { client } => info!(%client, "client disconnected"),
                Event::ServiceAdded { .. } | Event::ServiceRemoved { .. } => {}
            }
        }
        (too_slow, queued)
    }

    /// Point the timer at the Router's next deadline. After an input, only an earlier deadline
    /// wakes the timer task: a later one (every request pushes its own 30 s deadline) lets the
    /// armed timer fire early, once, and `timeout` sets the exact one. This keeps timer churn
    /// out of the per-request cost.
    fn rearm(&self, state: &State, exact: bool) {
        let next = state.router.poll_timeout();
        self.deadline.send_if_modified(|armed| {
            let move_it = match (*armed, next) {
                _ if exact => *armed != next,
                (None, Some(_)) => true,
                (Some(at), Some(due)) => due < at,
                (_, None) => false,
            };
            if move_it {
                *armed = next;
            }
            move_it
        });
    }
}

/// The single timer: sleeps until the Router's next deadline and calls `handle_timeout`.
pub(crate) async fn run_timer(hub: Arc<Hub>) {
    let mut deadline = hub.deadline.subscribe();
    loop {
        let next = *deadline.borrow_and_update();
        match next {
            Some(at) => {
                let wait = now().until(at);
                tokio::select! {
                    () = tokio::time::sleep(wait) => hub.timeout(),
                    changed = deadline.changed() => if changed.is_err() { return },
                }
            }
            None => {
                if deadline.changed().await.is_err() {
                    return;
                }
            }
        }
    }
}
