-- common.lua: what the toy experiments share: their arguments, the
-- stories260K assets, the TinyStories data, the training recipe at this
-- scale, and writing a table as CSV and JSON.
--
-- Arguments (retrobench run scripts/exp_X.lua -- ARGS): `short` (the CI
-- variant: a few steps on a 5-story sample, seconds), `out=DIR` (default
-- results/NAME), `steps=N`, `assets=DIR` (default $RB_ASSETS_DIR or the
-- project's ../shared/assets).
local rb = require "retrobench"
local _, here = ...

local M = {}

local script_dir = (here or ""):match("^(.*)/[^/]*$") or "."

function M.setup(name)
  local a = rb.args
  local c = {name = name, short = a.short == true or a.short == "1"}
  c.assets = a.assets or os.getenv("RB_ASSETS_DIR") or (script_dir .. "/../../shared/assets")
  c.out = a.out or ("results/" .. name)
  c.base_path = c.assets .. "/stories260K/stories260K.bin"
  c.tok_path = c.assets .. "/stories260K/tok512.bin"
  c.text = c.assets .. (c.short and "/tinystories/tinystories_sample.txt"
                                  or "/tinystories/tinystories_train_prefix_niklas6.txt")
  for _, f in ipairs{c.base_path, c.tok_path, c.text} do
    if not rb.exists(f) then
      error(("%s needs %s, which is absent; give assets=DIR or set RB_ASSETS_DIR"):format(name, f), 2)
    end
  end
  -- the scale: short for CI (seconds), else the retrofit of bench/retrofit_stories260k.sh
  c.seq = c.short and 32 or 256
  c.steps = tonumber(a.steps) or (c.short and 8 or 300)
  c.batch = c.short and 2 or 8
  c.depths = c.short and {1, 2, 4} or {1, 2, 4, 8, 16}
  rb.mkdir(c.out)
  return c
end

function M.base(c) return rb.load(c.base_path, {tokenizer = c.tok_path}) end

-- the text packed with the base's tokenizer (once per output folder)
function M.data(c, base)
  local path = c.out .. "/tinystories.rbtok"
  if rb.exists(path) then return rb.data_info(path) end
  return rb.pack{tokenizer = base, text = c.text, seq = c.seq, out = path}
end

-- the recipe at this scale: the paper's, with the learning rates this
-- small model needs (docs/DESIGN.md: 1e-2 / 3e-3), held-out rows for validation
function M.recipe(c, t)
  local r = {steps = c.steps, batch = c.batch, val_fraction = c.short and 0.1 or 0.05,
             lr_muon = 1e-2, lr_adam = 3e-3, val_depths = c.depths, ckpt_every = c.short and 0 or 100,
             resume = true, quiet = c.short}
  for k, v in pairs(t or {}) do r[k] = v end
  return r
end

-- rows as OUT/NAME.csv and OUT/NAME.json (with the settings), and a table on stdout
function M.write(c, name, rows, columns, meta)
  rb.write_csv(c.out .. "/" .. name .. ".csv", rows, {columns = columns})
  rb.write_json(c.out .. "/" .. name .. ".json",
                {experiment = c.name, short = c.short, steps = c.steps, seq = c.seq, batch = c.batch,
                 meta = meta or {}, columns = columns, rows = rows})
  print(table.concat(columns, "\t"))
  for _, r in ipairs(rows) do
    local cells = {}
    for i, k in ipairs(columns) do
      local v = r[k]
      cells[i] = type(v) == "number" and math.type(v) == "float" and ("%.4f"):format(v) or tostring(v)
    end
    print(table.concat(cells, "\t"))
  end
  rb.log(("%s: wrote %s/%s.csv and .json"):format(c.name, c.out, name))
end

return M
