-- wrk: GET /scim/v2/Users/{id} for ids picked at random from a file (one id a line).
--
--   wrk -t2 -c64 -d20s --latency -s bench/get_user.lua URL/scim/v2/Users -- TOKEN IDS_FILE
--
-- Every answer must be 200 and carry an "id". The ceiling example answers any path, so the same
-- script (same ids, same headers) drives it.
package.path = package.path .. ";" .. (debug.getinfo(1, "S").source:sub(2):match("(.*/)") or "./") .. "?.lua"
require "common"

expected = 200
local ids, base

function body_check(body)
   return body:find('"id":"', 1, true) ~= nil
end

function init(args)
   wrk.headers["Authorization"] = "Bearer " .. args[1]
   ids = read_lines(args[2])
   base = wrk.path
   math.randomseed(os.time() + tid * 7919)
end

function request()
   return wrk.format("GET", base .. "/" .. ids[math.random(#ids)])
end
