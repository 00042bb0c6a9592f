-- mtfl.train.significance: whether one setting beats another over seeds, by Student's
-- paired t-test (the runs of both share each seed: the same data order and, for the
-- shared layers, the same initial weights, so their differences are what varies).
--
--   local t = significance.paired({0.081, 0.079, 0.083}, {0.085, 0.084, 0.086})
--   -- {n = 3, mean = -0.004, std = ..., t = ..., df = 2, p = ...}  (two-sided p)
local M = {}

-- Lanczos's coefficients (g = 7, n = 9): log Gamma to about 1e-13 for x > 0.5.
local LANCZOS = {0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313,
                 -176.61502916214059, 12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6,
                 1.5056327351493116e-7}

--- log Gamma(x), x > 0.
function M.lgamma(x)
  if x < 0.5 then return math.log(math.pi / math.abs(math.sin(math.pi * x))) - M.lgamma(1 - x) end
  x = x - 1
  local s, t = LANCZOS[1], x + 7.5
  for i = 2, 9 do s = s + LANCZOS[i] / (x + i - 1) end
  return 0.5 * math.log(2 * math.pi) + (x + 0.5) * math.log(t) - t + math.log(s)
end

local function log_beta(a, b) return M.lgamma(a) + M.lgamma(b) - M.lgamma(a + b) end

-- The continued fraction of the incomplete beta function, evaluated by Lentz's method.
local function beta_fraction(x, a, b)
  local tiny, eps = 1e-300, 1e-15
  local c, d = 1, 1 - (a + b) * x / (a + 1)
  if math.abs(d) < tiny then d = tiny end
  d = 1 / d
  local h = d
  for m = 1, 300 do
    local m2 = 2 * m
    local num = m * (b - m) * x / ((a + m2 - 1) * (a + m2))
    d = 1 + num * d; if math.abs(d) < tiny then d = tiny end
    c = 1 + num / c; if math.abs(c) < tiny then c = tiny end
    d = 1 / d
    h = h * d * c
    num = -(a + m) * (a + b + m) * x / ((a + m2) * (a + m2 + 1))
    d = 1 + num * d; if math.abs(d) < tiny then d = tiny end
    c = 1 + num / c; if math.abs(c) < tiny then c = tiny end
    d = 1 / d
    local step = d * c
    h = h * step
    if math.abs(step - 1) < eps then break end
  end
  return h
end

--- The regularized incomplete beta function I_x(a, b).
function M.incomplete_beta(x, a, b)
  if x <= 0 then return 0 end
  if x >= 1 then return 1 end
  local front = math.exp(a * math.log(x) + b * math.log(1 - x) - log_beta(a, b))
  -- the fraction converges fast for x below the mean; use the symmetry above it
  if x < (a + 1) / (a + b + 2) then return front * beta_fraction(x, a, b) / a end
  return 1 - front * beta_fraction(1 - x, b, a) / b
end

--- Two-sided p-value of Student's t with df degrees of freedom.
function M.t_p_value(t, df)
  if t ~= t then return 0 / 0 end
  if t == math.huge or t == -math.huge then return 0 end
  return M.incomplete_beta(df / (df + t * t), df / 2, 0.5)
end

--- paired(a, b) -> {n, mean, std, t, df, p} of the differences a[i] - b[i] (lists of the
--- same length, at least 2); p is two-sided; t is infinite when every difference is
--- the same and not zero, and p 1 when all are zero.
function M.paired(a, b)
  assert(#a == #b and #a >= 2, "significance.paired: two lists of the same length, at least 2")
  local n, sum = #a, 0
  local d = {}
  for i = 1, n do d[i] = a[i] - b[i]; sum = sum + d[i] end
  local mean, squares = sum / n, 0
  for i = 1, n do squares = squares + (d[i] - mean) ^ 2 end
  local std = math.sqrt(squares / (n - 1))
  local t
  if std == 0 then t = mean == 0 and 0 or (mean > 0 and math.huge or -math.huge) else t = mean / (std / math.sqrt(n)) end
  return {n = n, mean = mean, std = std, t = t, df = n - 1, p = M.t_p_value(t, n - 1)}
end

return M
