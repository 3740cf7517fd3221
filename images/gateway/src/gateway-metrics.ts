// The gateway's own metrics (the stock distribution's are relayed apart: distribution-metrics.ts).
import type { MetricsRegistry } from "../../common/src/metrics";

export type GatewayMetrics = ReturnType<typeof gatewayMetrics>;

export function gatewayMetrics(metrics: MetricsRegistry) {
  return {
    requests: metrics.counter(
      "registry_gateway_requests_total",
      "Requests answered, by listener, route kind, method and status code.",
    ),
    duration: metrics.histogram(
      "registry_gateway_request_duration_seconds",
      "Time to the end of the response, by listener and route kind.",
      [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30, 120],
    ),
    bytes: metrics.counter(
      "registry_gateway_response_body_bytes_total",
      "Response body bytes streamed to clients, by listener and route kind.",
    ),
    inFlight: metrics.gauge("registry_gateway_in_flight_requests", "Requests being served."),
    auth: metrics.counter(
      "registry_gateway_authentications_total",
      "Client authentications by result (ok, anonymous, unknown-user, bad-password, throttled, denied).",
    ),
    bcrypt: metrics.gauge(
      "registry_gateway_bcrypt_checks",
      "bcrypt verifications done since start (the rest were served from the verdict cache).",
    ),
    upstream: metrics.counter(
      "registry_gateway_upstream_requests_total",
      "Requests sent to the upstream registry, by route kind and status code (0: failed).",
    ),
    backendErrors: metrics.counter(
      "registry_gateway_distribution_errors_total",
      "Requests the stock distribution behind the gateway could not answer.",
    ),
  };
}
