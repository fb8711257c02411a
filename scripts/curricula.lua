-- curricula.lua: the paper's curricula (METHOD.md section 2) for recipes:
--
--   local cur = require "curricula"
--   rb.train{..., rbar = cur.one_sqrt(32), backprop = cur.backprop_authors}
--
-- Built-in shapes are rb.curriculum tables; `staircase` shows a curriculum
-- that is a Lua function of the step (evaluated for every step before
-- training, recorded by its hash in the checkpoints).
local rb = require "retrobench"

local M = {}

-- 1-sqrt over the first 75% of training to rbar_max (the main recipe)
function M.one_sqrt(rbar_max) return rb.curriculum("1-sqrt", {max = rbar_max, warmup = 0.75}) end
M.one_sqrt_4 = M.one_sqrt(4)
M.one_sqrt_8 = M.one_sqrt(8)
M.one_sqrt_16 = M.one_sqrt(16)
M.one_sqrt_32 = M.one_sqrt(32)

-- linear over the first 25% of training
function M.linear_25(rbar_max) return rb.curriculum("linear", {max = rbar_max, warmup = 0.25}) end

-- the authors' backprop-depth schedule: linear from 2 (their first value
-- for start 1) to 8 over the first 10% of training
M.backprop_authors = rb.backprop_schedule(1, 8, 0.1)

-- the same growth as a function of the step, to 8 over 75%: an example of
-- a Lua curriculum (value in 1..8, ceil of the linear ramp)
function M.backprop_ramp(step, steps)
  local w = math.ceil(0.75 * steps)
  if step >= w then return 8 end
  return math.max(1, math.ceil(8 * step / w))
end

-- rbar in equal stairs up to `top` over the first `frac` of training
function M.staircase(top, frac)
  return function(step, steps)
    local w = math.max(1, math.ceil((frac or 0.75) * steps))
    if step >= w then return top end
    return math.max(1, math.floor(top * step / w) + 1)
  end
end

-- Two-phase healing (METHOD.md): phase 1 on general text with rbar_max 32,
-- phase 2 restarting optimizer and schedules on a mixture with rbar_max 4.
-- o: {general = DATA, mix = {{DATA, W}, ...}, steps1 = N, steps2 = N,
--     rbar1 = 32, rbar2 = 4}; returns rb.train's phases list.
function M.two_phase_healing(o)
  assert(o.general and o.mix and o.steps1 and o.steps2,
         "two_phase_healing needs general, mix, steps1 and steps2")
  return {
    {data = o.general, steps = o.steps1, rbar = M.one_sqrt(o.rbar1 or 32)},
    {data = o.mix, steps = o.steps2, rbar = M.one_sqrt(o.rbar2 or 4)},
  }
end

return M
