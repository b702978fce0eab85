//! `hypha-core-server`: the Hypha Core Router behind a native WebSocket endpoint.
//!
//! Binds `--host`/`--port`, serves the Hypha WebSocket protocol at `/ws` and the HTTP service
//! API everywhere else (`/health`, `/metrics`, `/{ws}/services/…`, `/{ws}/apps/…`), and
//! shuts down gracefully on SIGINT/SIGTERM. With `--port 0` it binds a free port; either way it
//! prints `HYPHA_CORE_SERVER_LISTENING http://<addr>` on stdout once it accepts connections.

mod accept;
mod cluster;
mod driver;
mod http;
mod outbox;
mod pace;
mod ws;

use std::io::Write;
use std::net::SocketAddr;
use std::sync::Arc;

use clap::Parser;
use hypha_core::Config;
use tracing::{info, warn};

/// Command line of the server.
#[derive(Debug, Parser)]
#[command(
    name = "hypha-core-server",
    version,
    about = "Hypha Core native server"
)]
struct Args {
    /// Address to bind (use loopback unless you mean to expose it).
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// Port to bind; 0 picks a free one.
    #[arg(long, default_value_t = 9527)]
    port: u16,
    /// HS256 secret for tokens. Without it a random one is drawn and tokens die with the process.
    #[arg(long, env = "HYPHA_JWT_SECRET", hide_env_values = true)]
    jwt_secret: Option<String>,
    /// URL clients know the server by (default `http://<host>:<port>`).
    #[arg(long)]
    public_url: Option<String>,
    /// An origin whose pages may call the HTTP API with the user's `access_token` cookie and
    /// read credentialed answers (repeat for several). Other origins get `*` without credentials.
    #[arg(
        long = "allow-origin",
        env = "HYPHA_ALLOW_ORIGINS",
        value_delimiter = ','
    )]
    allow_origins: Vec<String>,
    /// Largest HTTP request body accepted, in bytes.
    #[arg(long, default_value_t = 10 * 1024 * 1024)]
    max_body: usize,
    /// HTTP requests per second per identity (token user, or peer address); 0 turns it off.
    #[arg(long, default_value_t = 1000.0)]
    rate_limit: f64,
    /// Burst size of the HTTP rate limit.
    #[arg(long, default_value_t = 5000.0)]
    rate_burst: f64,
    /// This server's id: the manager is `workspace-manager-<id>` (Python hypha's
    /// `manager-<server id>`). Without one, a random id per start, so reconnecting clients learn
    /// that the server restarted; give a fixed one to keep it across restarts.
    #[arg(long, env = "HYPHA_SERVER_ID")]
    server_id: Option<String>,
    /// Join a cluster of servers sharing workspaces through this Redis:
    /// `redis://[user:password@]host:port[/db]`, `rediss://` (TLS) or `unix:///path`. Each
    /// server needs its own `--server-id`. Without it the server runs alone.
    #[arg(long, env = "HYPHA_REDIS_URI")]
    redis_uri: Option<String>,
    /// With `--redis-uri`: a server silent this long (milliseconds) is taken for dead, its
    /// clients purged and the calls waiting on them rejected. It says it is alive three times as
    /// often. A longer one tolerates longer stalls; a shorter one releases callers sooner.
    #[arg(long, default_value_t = 1500)]
    heartbeat_ttl_ms: u64,
    /// Bytes an HTTP-transport client (`GET /rpc`) may have waiting unread before its stream is
    /// cut.
    #[arg(long, default_value_t = 16 * 1024 * 1024)]
    rpc_stream_buffer: usize,
    /// Connections open at once (HTTP and WebSocket); new ones past it are closed at once. Keep
    /// it under the process's descriptor limit (`ulimit -n`).
    #[arg(long, default_value_t = 10_000)]
    max_connections: usize,
    /// Seconds a client has to send a request's headers (and, kept alive, the next request's).
    #[arg(long, default_value_t = 10)]
    header_timeout: u64,
    /// Bytes a WebSocket client may have waiting unread before it is disconnected (one message
    /// always fits).
    #[arg(long, default_value_t = 64 * 1024 * 1024)]
    outbox_bytes: usize,
    /// Bytes all WebSocket clients together may have waiting unread; a message past it
    /// disconnects the client it was for.
    #[arg(long, default_value_t = 256 * 1024 * 1024)]
    outbox_total_bytes: usize,
    /// Messages per second each WebSocket client may send on average; past its burst, its next
    /// message is read when due (the client is slowed down, not cut off). 0: no limit.
    #[arg(long, default_value_t = 20_000.0)]
    message_rate: f64,
    /// Messages a WebSocket client may send at once before `--message-rate` paces it.
    #[arg(long, default_value_t = 20_000.0)]
    message_burst: f64,
    /// Bytes per second a WebSocket client's messages may make the server send to others beyond
    /// their own size (events to many subscribers, notices, listings); past its burst the
    /// client's next message is read when due. 0: no limit.
    #[arg(long, default_value_t = 128.0 * 1024.0 * 1024.0)]
    fan_out_rate: f64,
    /// Bytes of fan-out a WebSocket client may cause at once before `--fan-out-rate` paces it.
    #[arg(long, default_value_t = 128.0 * 1024.0 * 1024.0)]
    fan_out_burst: f64,
    /// Bytes all unfinished `message_cache` uploads together may hold.
    #[arg(long, default_value_t = 256 * 1024 * 1024)]
    upload_total_bytes: usize,
    /// Largest service record `register_service` stores (msgpack bytes).
    #[arg(long, default_value_t = 1024 * 1024)]
    service_bytes: usize,
    /// Bytes of service records one user may have registered.
    #[arg(long, default_value_t = 16 * 1024 * 1024)]
    user_registry_bytes: usize,
    /// Bytes of service records the whole server may hold.
    #[arg(long, default_value_t = 256 * 1024 * 1024)]
    registry_bytes: usize,
    /// Bytes of service records one `list_services` may answer with; a larger listing is
    /// refused with a request to narrow the query.
    #[arg(long, default_value_t = 8 * 1024 * 1024)]
    listing_bytes: usize,
}

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn random_bytes<const N: usize>() -> [u8; N] {
    let mut buf = [0u8; N];
    getrandom::fill(&mut buf).expect("invariant: the OS random source is available");
    buf
}

// One thread: every input goes through the Router's one lock anyway, and on the 2-core machine
// the benchmarks run on, cross-thread wake-ups cost more than they bought (bench/http.sh:
// ~80 against ~100 µs of server CPU per HTTP call, and a shorter p50).
#[tokio::main(flavor = "current_thread")]
async fn main() -> std::io::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let started = std::time::Instant::now();

    let secret = match args.jwt_secret {
        Some(s) if !s.is_empty() => s.into_bytes(),
        _ => {
            warn!("no --jwt-secret or HYPHA_JWT_SECRET given: using a random secret; tokens will not survive a restart");
            random_bytes::<32>().to_vec()
        }
    };
    let redis_uri = args.redis_uri.filter(|u| !u.is_empty());
    if let Some(uri) = &redis_uri {
        cluster::check_uri(uri).map_err(std::io::Error::other)?;
        if args.server_id.as_deref().is_none_or(str::is_empty) {
            return Err(std::io::Error::other(
                "--redis-uri needs --server-id (or HYPHA_SERVER_ID): each server of a cluster is named",
            ));
        }
    }
    let listener = tokio::net::TcpListener::bind((args.host.as_str(), args.port)).await?;
    let addr: SocketAddr = listener.local_addr()?;
    let public_url = args.public_url.unwrap_or_else(|| format!("http://{addr}"));
    let mut config = Config::new(
        public_url.clone(),
        secret,
        u64::from_le_bytes(random_bytes::<8>()),
    );
    // The manager's id names this server (Python hypha's `manager-<server id>`): clients compare
    // it on reconnect to learn that the server restarted and re-fetch the manager.
    let server_id = match args.server_id.filter(|id| !id.is_empty()) {
        Some(id) if hypha_core::auth::is_valid_name(&id) => id,
        Some(id) => {
            return Err(std::io::Error::other(format!(
                "invalid --server-id {id:?}: it may not contain / : @ * # or whitespace"
            )))
        }
        None => format!("{:08x}", u32::from_le_bytes(random_bytes::<4>())),
    };
    config.manager_id = format!("{}-{server_id}", hypha_core::MANAGER_ID_BASE);
    config.server_id = server_id;
    config.cluster = redis_uri.is_some();
    config.limits = hypha_core::Limits {
        uploads_total_bytes: args.upload_total_bytes,
        service_bytes: args.service_bytes,
        user_registry_bytes: args.user_registry_bytes,
        registry_bytes: args.registry_bytes,
        listing_bytes: args.listing_bytes,
    };
    config.http.max_body = args.max_body;
    config.http.rpc_stream_buffer = args.rpc_stream_buffer;
    config.http.allow_origins = args.allow_origins;
    // A rate option of 0 turns the limit off; a burst holds at least one token.
    let rate = |per_second: f64, burst: f64| {
        (per_second > 0.0).then_some(hypha_core::http::RateLimit {
            per_second,
            burst: burst.max(1.0),
        })
    };
    config.http.rate_limit = rate(args.rate_limit, args.rate_burst);

    let budgets = outbox::Budgets::new(args.outbox_bytes, args.outbox_total_bytes);
    let input_rates = pace::InputRates {
        messages: rate(args.message_rate, args.message_burst),
        fan_out_bytes: rate(args.fan_out_rate, args.fan_out_burst),
    };
    let (id, manager) = (config.server_id.clone(), config.manager_id.clone());
    let hub = Arc::new(driver::Hub::new(config, budgets, input_rates));
    let timer = tokio::spawn(driver::run_timer(hub.clone()));
    let mut joined = None;
    if let Some(uri) = &redis_uri {
        let (cluster, link, outgoing) = cluster::Cluster::join(
            uri,
            &id,
            &manager,
            std::time::Duration::from_millis(args.heartbeat_ttl_ms.max(300)),
            hub.clone(),
        )
        .await
        .map_err(std::io::Error::other)?;
        hub.set_cluster(link);
        cluster.spawn(outgoing);
        info!(server_id = %id, "joined the cluster");
        joined = Some(cluster);
    }
    let app = http::router(hub.clone());

    info!(%addr, %public_url, "listening (websocket at /ws)");
    println!("HYPHA_CORE_SERVER_LISTENING http://{addr}");
    std::io::stdout().flush()?;
    info!(elapsed_ms = started.elapsed().as_millis() as u64, "ready");

    // Every connection is a descriptor: raise the soft limit as far as allowed, and keep the
    // connection limit under it (with room for the listener, logs and the like), so a flood of
    // sockets is refused by the limit instead of exhausting descriptors.
    let descriptors = rlimit::increase_nofile_limit(u64::MAX).unwrap_or(1024);
    let room = usize::try_from(descriptors.saturating_sub(64)).unwrap_or(usize::MAX);
    let max_connections = args.max_connections.clamp(1, room.max(1));
    if max_connections < args.max_connections {
        warn!(
            max_connections,
            descriptors, "--max-connections lowered to fit the descriptor limit"
        );
    }
    let limits = accept::Limits {
        max_connections,
        header_timeout: std::time::Duration::from_secs(args.header_timeout.max(1)),
    };
    accept::serve(listener, app, limits, shutdown_signal()).await;
    info!("shutting down: closing client connections");
    hub.close_all();
    // Give writers a moment to flush their close frames.
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    if let Some(cluster) = joined {
        cluster.leave().await;
    }
    timer.abort();
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}
