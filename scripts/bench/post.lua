-- wrk script for scripts/bench-server.sh: one fixed POST per request, every answer checked.
--
--   WRK_BODY='{}' WRK_CONTENT_TYPE=application/json WRK_AUTH='Bearer …' \
--     wrk -t1 -c64 -d5s --latency -s scripts/bench/post.lua http://127.0.0.1:PORT/path
--
-- Environment (all optional): WRK_BODY the request body (none when unset: no Content-Length),
-- WRK_CONTENT_TYPE its Content-Type, WRK_AUTH the whole Authorization header value,
-- WRK_METHOD (default POST).
--
-- wrk itself only counts answers >= 400 ("Non-2xx or 3xx responses"), so response() counts
-- every status outside 200-299, and done() prints one machine-readable line for the script:
--   wrk-result requests=N secs=S rate=R p50_ms=A p99_ms=B non2xx=N first_status=C socket_errors=E
-- (latencies of all answers, from wrk's histogram; rate = answers per second).

wrk.method = os.getenv("WRK_METHOD") or "POST"
wrk.body = os.getenv("WRK_BODY")
wrk.headers["Content-Type"] = os.getenv("WRK_CONTENT_TYPE")
wrk.headers["Authorization"] = os.getenv("WRK_AUTH")

local threads = {}

function setup(thread)
   table.insert(threads, thread)
end

non2xx = 0
first_status = 0

function response(status, headers, body)
   if status < 200 or status > 299 then
      non2xx = non2xx + 1
      if first_status == 0 then
         first_status = status
      end
   end
end

function done(summary, latency, requests)
   local bad, first = 0, 0
   for _, thread in ipairs(threads) do
      bad = bad + thread:get("non2xx")
      if first == 0 then
         first = thread:get("first_status")
      end
   end
   local e = summary.errors
   local secs = summary.duration / 1e6
   io.write(string.format(
      "wrk-result requests=%d secs=%.3f rate=%.1f p50_ms=%.3f p99_ms=%.3f non2xx=%d "
         .. "first_status=%d socket_errors=%d\n",
      summary.requests, secs, summary.requests / secs,
      latency:percentile(50) / 1000, latency:percentile(99) / 1000, bad, first,
      e.connect + e.read + e.write + e.timeout))
end
