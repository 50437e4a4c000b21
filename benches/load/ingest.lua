-- wrk script: small folded uploads as agents send them every 10 s, from 200 different apps, or
-- from PYRO_LOAD_APPS apps (20000: each writes about once per 10-second slot, as agents do).
-- Usage: [PYRO_LOAD_APPS=20000] wrk -t2 -c64 -d15s -s benches/load/ingest.lua http://127.0.0.1:4040
local apps = tonumber(os.getenv("PYRO_LOAD_APPS") or "200")
local body = ""
for i = 1, 20 do
  body = body .. "main;http.serve;handler" .. i .. ";db.query;net.read " .. (i * 3) .. "\n"
end
local n = 0
request = function()
  n = n + 1
  local app = "load.app" .. (n % apps) .. ".cpu"
  local path = "/ingest?name=" .. app .. "&from=" .. os.time() .. "&spyName=gospy&sampleRate=100"
  return wrk.format("POST", path, {["Content-Type"] = "text/plain"}, body)
end
done = function(summary, latency, requests)
  io.write(string.format("requests/s %.0f  p50 %.2f ms  p99 %.2f ms  errors %d\n",
    summary.requests / (summary.duration / 1e6), latency:percentile(50) / 1000,
    latency:percentile(99) / 1000, summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
