-- wirecheck's report from wrk: one line of JSON after the run, latencies in microseconds
-- (wrk records them at 1 us resolution; its --latency table rounds them for people).
done = function(summary, latency, requests)
  local errors = summary.errors
  io.write(string.format(
    'WIRECHECK_WRK {"requests": %d, "duration_us": %d, "bytes": %d, ' ..
    '"p50_us": %d, "p90_us": %d, "p99_us": %d, "p99.9_us": %d, "max_us": %d, ' ..
    '"errors_connect": %d, "errors_read": %d, "errors_write": %d, "errors_status": %d, "errors_timeout": %d}\n',
    summary.requests, summary.duration, summary.bytes,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency:percentile(99.9), latency.max,
    errors.connect, errors.read, errors.write, errors.status, errors.timeout))
end
