//! The counters behind `GET /metrics`, rendered as Prometheus text. Labels come from fixed sets
//! (route names, status codes), so the series cannot grow with what clients send.

use std::collections::BTreeMap;
use std::fmt::Write as _;

/// Upper bounds (seconds) of the request latency histogram.
const BUCKETS: [f64; 12] = [
    0.000_5, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

/// What the Router counts.
#[derive(Debug, Default)]
pub(crate) struct Metrics {
    /// Binary frames routed between peers.
    pub(crate) frames_routed: u64,
    requests: BTreeMap<(&'static str, u16), u64>,
    latency_counts: [u64; BUCKETS.len()],
    latency_sum: f64,
    latency_total: u64,
}

/// Gauges read at render time.
pub(crate) struct Gauges {
    pub(crate) connections: usize,
    pub(crate) clients: usize,
    pub(crate) services: usize,
    pub(crate) http_in_flight: usize,
}

impl Metrics {
    /// A request on `route` answered `status` after `seconds`.
    pub(crate) fn request(&mut self, route: &'static str, status: u16, seconds: f64) {
        *self.requests.entry((route, status)).or_default() += 1;
        for (count, bound) in self.latency_counts.iter_mut().zip(BUCKETS) {
            if seconds <= bound {
                *count += 1;
            }
        }
        self.latency_sum += seconds;
        self.latency_total += 1;
    }

    /// The Prometheus text exposition.
    pub(crate) fn render(&self, gauges: &Gauges) -> String {
        let mut out = String::new();
        let mut gauge = |name: &str, help: &str, value: usize| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}"
            );
        };
        gauge(
            "hypha_connections",
            "Open WebSocket and postMessage connections.",
            gauges.connections,
        );
        gauge("hypha_clients", "Connected clients.", gauges.clients);
        gauge("hypha_services", "Registered services.", gauges.services);
        gauge(
            "hypha_http_in_flight",
            "HTTP requests being served.",
            gauges.http_in_flight,
        );
        let _ = writeln!(
            out,
            "# HELP hypha_frames_routed_total RPC frames routed between peers.\n# TYPE hypha_frames_routed_total counter\nhypha_frames_routed_total {}",
            self.frames_routed
        );
        let _ = writeln!(
            out,
            "# HELP hypha_http_requests_total HTTP requests by route and status.\n# TYPE hypha_http_requests_total counter"
        );
        for ((route, status), count) in &self.requests {
            let _ = writeln!(
                out,
                "hypha_http_requests_total{{route=\"{route}\",status=\"{status}\"}} {count}"
            );
        }
        let name = "hypha_http_request_duration_seconds";
        let _ = writeln!(
            out,
            "# HELP {name} Time from request head to the end of the response.\n# TYPE {name} histogram"
        );
        for (count, bound) in self.latency_counts.iter().zip(BUCKETS) {
            let _ = writeln!(out, "{name}_bucket{{le=\"{bound}\"}} {count}");
        }
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {}", self.latency_total);
        let _ = writeln!(out, "{name}_sum {}", self.latency_sum);
        let _ = writeln!(out, "{name}_count {}", self.latency_total);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_a_cumulative_histogram() {
        let mut m = Metrics::default();
        m.request("call", 200, 0.000_3);
        m.request("call", 200, 0.003);
        m.request("call", 404, 2.0);
        let text = m.render(&Gauges {
            connections: 1,
            clients: 2,
            services: 3,
            http_in_flight: 0,
        });
        assert!(text.contains("hypha_http_requests_total{route=\"call\",status=\"200\"} 2"));
        assert!(text.contains("hypha_http_requests_total{route=\"call\",status=\"404\"} 1"));
        assert!(text.contains("hypha_http_request_duration_seconds_bucket{le=\"0.0005\"} 1"));
        assert!(text.contains("hypha_http_request_duration_seconds_bucket{le=\"0.005\"} 2"));
        assert!(text.contains("hypha_http_request_duration_seconds_bucket{le=\"+Inf\"} 3"));
        assert!(text.contains("hypha_services 3"));
    }
}
