-- bench/default_gen.lua: write the synthetic task's files with the standalone
-- interpreter (lua5.4), for the shell drivers that run before the Lua layer
-- of retrobench exists. The problems come from scripts/lib/chains.lua.
--   lua5.4 bench/default_gen.lua OUTDIR SEED N_TRAIN N_VAL N_TEST STEPS
-- STEPS: a comma list (e.g. 1,2,3,4,5,6,7,8). Writes OUTDIR/tokenizer.json,
-- train.jsonl, validation.jsonl, test.jsonl (test: each difficulty equally
-- often); validation and test exclude questions seen in train.
local here = arg[0]:match("^(.*)/bench/[^/]*$") or "."
package.path = here .. "/scripts/?.lua;" .. package.path
local chains = require "lib.chains"

local out, seed, ntr, nva, nte, steps = arg[1], tonumber(arg[2]), tonumber(arg[3]), tonumber(arg[4]),
    tonumber(arg[5]), arg[6]
if not (out and seed and ntr and nva and nte and steps) then
  io.stderr:write("usage: lua5.4 bench/default_gen.lua OUTDIR SEED N_TRAIN N_VAL N_TEST STEPS\n")
  os.exit(2)
end
local list = {}
for s in steps:gmatch("[^,]+") do list[#list + 1] = math.tointeger(tonumber(s)) end

local function write(name, text)
  local f = assert(io.open(out .. "/" .. name, "wb"))
  f:write(text)
  f:close()
end

seed = math.tointeger(seed)
local train = chains.split(seed, "train", math.tointeger(ntr), list)
local seen = chains.question_set(train)
local val = chains.split(seed, "validation", math.tointeger(nva), list, { exclude = seen, balanced = true })
local test = chains.split(seed, "test", math.tointeger(nte), list, { exclude = seen, balanced = true })
write("tokenizer.json", chains.tokenizer_json())
write("train.jsonl", chains.jsonl(train))
write("validation.jsonl", chains.jsonl(val))
write("test.jsonl", chains.jsonl(test))
io.stderr:write(string.format("default_gen: %s: %d train, %d validation, %d test problems, steps %s, seed %d\n",
  out, #train, #val, #test, steps, seed))
