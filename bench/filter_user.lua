-- wrk: GET /scim/v2/Users?filter=userName eq "<name>" (URL-encoded) for userNames picked at
-- random from a file (one a line); answered from the userName index.
--
--   wrk -t2 -c64 -d20s --latency -s bench/filter_user.lua URL/scim/v2/Users -- TOKEN NAMES_FILE
--
-- Every answer must be 200 with exactly one result.
package.path = package.path .. ";" .. (debug.getinfo(1, "S").source:sub(2):match("(.*/)") or "./") .. "?.lua"
require "common"

expected = 200
local paths = {}

function body_check(body)
   return body:find('"totalResults":1,', 1, true) ~= nil
end

function init(args)
   wrk.headers["Authorization"] = "Bearer " .. args[1]
   for _, name in ipairs(read_lines(args[2])) do
      table.insert(paths, wrk.path .. "?filter=" .. url_encode('userName eq "' .. name .. '"'))
   end
   math.randomseed(os.time() + tid * 7919)
end

function request()
   return wrk.format("GET", paths[math.random(#paths)])
end
