-- bench/default_by_steps.lua: accuracy per test depth and per number of
-- steps, from a `retrobench eval` folder on the synthetic task (the answers'
-- ids are lines of the data file, whose "steps" field names the difficulty).
--   lua5.4 bench/default_by_steps.lua DATA.jsonl EVAL_DIR [RULE]
-- RULE: flexible-extract (default) or strict-match. Prints one row per
-- depth: the accuracy over all answers, then per steps value.
local data, dir, rule = arg[1], arg[2], arg[3] or "flexible-extract"
if not (data and dir) then
  io.stderr:write("usage: lua5.4 bench/default_by_steps.lua DATA.jsonl EVAL_DIR [RULE]\n")
  os.exit(2)
end
local steps_of, levels, seen = {}, {}, {}
local id = 0
for line in io.lines(data) do
  local s = tonumber(line:match('"steps":%s*(%d+)'))
  steps_of[id] = s
  if s and not seen[s] then seen[s] = true; levels[#levels + 1] = s end
  id = id + 1
end
table.sort(levels)
local tally, depths, dseen = {}, {}, {}
local pat = '"correct":{[^}]*"' .. rule:gsub("%-", "%%-") .. '":(%a+)'
for line in io.lines(dir .. "/answers.jsonl") do
  local i, d = line:match('"id":(%d+),"depth":(%d+)')
  local ok = line:match(pat)
  if i and ok then
    i, d = tonumber(i), tonumber(d)
    if not dseen[d] then dseen[d] = true; depths[#depths + 1] = d end
    local s = steps_of[i]
    for _, key in ipairs({ d .. ":all", d .. ":" .. tostring(s) }) do
      local t = tally[key] or { n = 0, c = 0 }
      t.n = t.n + 1
      if ok == "true" then t.c = t.c + 1 end
      tally[key] = t
    end
  end
end
table.sort(depths)
local head = { string.format("%-6s %7s", "depth", "all") }
for _, s in ipairs(levels) do head[#head + 1] = string.format("%6s", "k=" .. s) end
print(table.concat(head, " "))
for _, d in ipairs(depths) do
  local row = { string.format("%-6s", "r=" .. d) }
  local a = tally[d .. ":all"]
  row[#row + 1] = string.format("%7.3f", a.c / a.n)
  for _, s in ipairs(levels) do
    local t = tally[d .. ":" .. s]
    row[#row + 1] = t and string.format("%6.2f", t.c / t.n) or string.format("%6s", "-")
  end
  print(table.concat(row, " "))
end
