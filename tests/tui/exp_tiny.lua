-- exp_tiny.lua: the tiny experiment the workbench's tmux tests run
-- (tests/tui/test_tui_experiment.sh): stories260K cut to (1,2,1), trained
-- on a TinyStories sample with a prompt for the answers pane, then an
-- evaluation on two hand-written problems for the accuracy pane.
-- Arguments (KEY=VALUE): base, tok, text (the assets), steps, out, and
-- fail=1 to end with an error (its traceback goes to the log pane).
local rb = require 'retrobench'
local A = arg
local s = rb.surgery(A.base, {1, 2, 1}, {tokenizer = A.tok})
local d = rb.pack{tokenizer = s, text = A.text, seq = 64, out = "ts.rbtok"}
print("packed " .. d.rows .. " rows")
rb.workbench_prompt("Once upon a time", "the")
local function check(v) if v ~= v then error("a NaN loss") end end
local run = rb.train{model = s, data = d, steps = tonumber(A.steps or 40), batch = 2, val_every = 10,
                     val_depths = {1, 4}, val_rows = 8, out = A.out or "run", ckpt_every = 0, quiet = true,
                     on_step = function(m) check(m.loss) end}
local fin = {} for r, l in pairs(run.final) do fin[#fin + 1] = string.format("r=%d %.3f", r, l) end
print("trained " .. run.step .. " steps; final " .. table.concat(fin, " "))
local e = rb.eval(s, {problems = {{question = "What is 2 plus 3?", answer = "2 + 3 = 5 #### 5"},
                                  {question = "What is 4 plus 4?", answer = "4 + 4 = 8 #### 8"}},
                      depths = {1, 2, 4}, shots = 0, max_new = 8, max_length = 256, quiet = true})
print(string.format("accuracy r=1 %.2f r=4 %.2f", e.accuracy[1], e.accuracy[4]))
if A.fail then
  local function deeper() error("the planned failure of exp_tiny.lua") end
  deeper()
end
