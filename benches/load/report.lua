-- wrk script: print one machine-readable line with the numbers the harness needs.
-- Latencies are in microseconds; p99.9 is not in wrk's own --latency table, hence this script.
done = function(summary, latency, requests)
   local e = summary.errors
   io.write(string.format(
      "RESULT requests=%d duration_us=%d errors=%d status_errors=%d timeouts=%d p50=%d p99=%d p999=%d max=%d\n",
      summary.requests, summary.duration,
      e.connect + e.read + e.write + e.status + e.timeout, e.status, e.timeout,
      latency:percentile(50), latency:percentile(99), latency:percentile(99.9), latency.max))
end
