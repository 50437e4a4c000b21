-- wrk script: gzipped pprof uploads (`format=pprof`, as pyroscope-io 0.8 and the Node agent send
-- them) from 200 apps. The body is the file named by $PYRO_LOAD_PPROF.
local f = assert(io.open(os.getenv("PYRO_LOAD_PPROF"), "rb"))
local body = f:read("*a")
f:close()
local n = 0
request = function()
  n = n + 1
  local app = "load.app" .. (n % 200)
  local path = "/ingest?name=" .. app .. "&format=pprof&from=" .. os.time() .. "&spyName=gospy"
  return wrk.format("POST", path, {["Content-Type"] = "binary/octet-stream"}, body)
end
done = function(summary, latency, requests)
  io.write(string.format("requests/s %.0f  p50 %.2f ms  p99 %.2f ms  errors %d\n",
    summary.requests / (summary.duration / 1e6), latency:percentile(50) / 1000,
    latency:percentile(99) / 1000, summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
