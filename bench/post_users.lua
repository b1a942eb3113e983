-- wrk: POST /scim/v2/Users, each request a new user with a unique userName
-- (`<prefix>-<thread>-<counter>@example.com`).
--
--   wrk -t2 -c64 -d20s --latency -s bench/post_users.lua URL/scim/v2/Users -- TOKEN PREFIX
--
-- Every answer must be 201 (PREFIX must differ between runs against one store). Requests still
-- in flight when wrk stops are not counted by wrk but may be committed by the gateway.
package.path = package.path .. ";" .. (debug.getinfo(1, "S").source:sub(2):match("(.*/)") or "./") .. "?.lua"
require "common"

expected = 201
local counter = 0
local prefix

function init(args)
   prefix = args[2] or "u"
   wrk.headers["Authorization"] = "Bearer " .. args[1]
   wrk.headers["Content-Type"] = "application/scim+json"
end

local template = [[{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"%s@example.com","name":{"givenName":"Bench","familyName":"User %s","formatted":"Bench User %s"},"displayName":"Bench User %s","emails":[{"value":"%s@example.com","type":"work","primary":true}],"active":true,"externalId":"ext-%s"}]]

function request()
   counter = counter + 1
   local key = string.format("%s-%d-%d", prefix, tid, counter)
   local body = string.format(template, key, key, key, key, key, key)
   return wrk.format("POST", nil, nil, body)
end

