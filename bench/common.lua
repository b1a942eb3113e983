-- Shared by the wrk scripts of bench/load.sh: thread numbering, status counting, the report.
--
-- Each script sets `expected` (the status every response must have) and may set
-- `body_check(body)` (returns false for a response whose body is wrong). done() prints one line
-- that bench/load.sh parses:
--   lua: expected=201 ok=N unexpected=M bad_body=K statuses=201:N,409:M
-- The same counting runs in every scenario (gateway and ceiling), so its cost on the load
-- generator is the same everywhere.

local threads = {}

function setup(thread)
   thread:set("tid", #threads)
   table.insert(threads, thread)
end

statuses = {}
bad_body = 0
responses = 0

function count_response(status, body)
   responses = responses + 1
   statuses[status] = (statuses[status] or 0) + 1
   if body_check and status == expected and not body_check(body) then
      bad_body = bad_body + 1
   end
end

function response(status, headers, body)
   count_response(status, body)
end

function done(summary, latency, requests)
   local total, bad, parts, exp = {}, 0, {}, nil
   for _, t in ipairs(threads) do
      exp = t:get("expected")
      bad = bad + (t:get("bad_body") or 0)
      for s, n in pairs(t:get("statuses") or {}) do
         total[s] = (total[s] or 0) + n
      end
   end
   local ok, unexpected = 0, 0
   local keys = {}
   for s, _ in pairs(total) do table.insert(keys, s) end
   table.sort(keys)
   for _, s in ipairs(keys) do
      local n = total[s]
      if s == exp then ok = ok + n else unexpected = unexpected + n end
      table.insert(parts, s .. ":" .. n)
   end
   io.write(string.format("lua: expected=%s ok=%d unexpected=%d bad_body=%d statuses=%s\n",
      tostring(exp), ok, unexpected, bad, table.concat(parts, ",")))
end

-- Reads one value per line.
function read_lines(path)
   local out = {}
   local f = assert(io.open(path, "r"), "cannot open " .. path)
   for line in f:lines() do
      if #line > 0 then table.insert(out, line) end
   end
   f:close()
   assert(#out > 0, path .. " is empty")
   return out
end

function url_encode(s)
   return (s:gsub("[^%w%-%._~]", function(c) return string.format("%%%02X", string.byte(c)) end))
end
