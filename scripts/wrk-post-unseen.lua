-- wrk script for scripts/bench.sh: POSTs the history in WRK_BODY with fresh random watch
-- times on every request, so that no event's output is in the server's event cache. The Lua
-- work per request slows wrk too: compare only with the bare handler under this same script.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local template = os.getenv("WRK_BODY")
math.randomseed(os.time())
request = function()
  local body = template:gsub('"watch_seconds":%d+', function()
    return '"watch_seconds":' .. (math.random(1, 7200000) / 1000)
  end)
  return wrk.format(nil, nil, nil, body)
end
