-- bench/default_gen.lua: write the synthetic task's files with the standalone
-- interpreter (lua5.4), for the shell drivers that run before the Lua layer
-- of retrobench exists. The problems come from scripts/lib/chains.lua.
--   lua5.4 bench/default_gen.lua out=DIR seed=S train=N validation=N test=N
--          [warmup=N] [steps=0,1,...,8] [test_steps=1,...,8] [warmup_steps=0,1,2]
-- Writes DIR/tokenizer.json and DIR/<split>.jsonl for each split asked for
-- (validation and test: each difficulty equally often, no question of
-- train or warmup; train and warmup: difficulties drawn uniformly).
local here = arg[0]:match("^(.*)/bench/[^/]*$") or "."
package.path = here .. "/scripts/?.lua;" .. package.path
local chains = require "lib.chains"

local o = { steps = "0,1,2,3,4,5,6,7,8", test_steps = "1,2,3,4,5,6,7,8", warmup_steps = "0,1,2",
  train = "0", validation = "0", test = "0", warmup = "0" }
for _, a in ipairs(arg) do
  local k, v = a:match("^([%w_]+)=(.*)$")
  if not k or (o[k] == nil and k ~= "out" and k ~= "seed") then
    io.stderr:write("default_gen: bad argument '" .. a .. "'; expected out=DIR seed=S train=N validation=N " ..
      "test=N [warmup=N] [steps=L] [test_steps=L] [warmup_steps=L]\n")
    os.exit(2)
  end
  o[k] = v
end
if not (o.out and o.seed) then
  io.stderr:write("default_gen: out=DIR and seed=S are required\n")
  os.exit(2)
end
local function ints(text)
  local list = {}
  for s in text:gmatch("[^,]+") do list[#list + 1] = math.tointeger(tonumber(s)) end
  return list
end
local function write(name, text)
  local f = assert(io.open(o.out .. "/" .. name, "wb"))
  f:write(text)
  f:close()
end
local seed = math.tointeger(tonumber(o.seed))
local n = function(k) return math.tointeger(tonumber(o[k])) end
local train = chains.split(seed, "train", n("train"), ints(o.steps))
local warm = chains.split(seed, "warmup", n("warmup"), ints(o.warmup_steps))
local seen = chains.question_set(train)
for q in pairs(chains.question_set(warm)) do seen[q] = true end
local held = { exclude = seen, balanced = true }
local val = chains.split(seed, "validation", n("validation"), ints(o.test_steps), held)
local test = chains.split(seed, "test", n("test"), ints(o.test_steps), held)
write("tokenizer.json", chains.tokenizer_json())
for name, list in pairs({ train = train, warmup = warm, validation = val, test = test }) do
  if #list > 0 then write(name .. ".jsonl", chains.jsonl(list)) end
end
io.stderr:write(string.format("default_gen: %s: %d train (steps %s), %d warmup (steps %s), %d validation, " ..
  "%d test (steps %s), seed %d\n", o.out, #train, o.steps, #warm, o.warmup_steps, #val, #test, o.test_steps, seed))
