-- The augmentation table end to end: rotation, scale and shift keep the landmarks on
-- dots drawn at them (through the crop protocol, whose stored window has room for the
-- rotation); every photometric operation does what it says, numerically; zero strength
-- is exactly no augmentation; batches are a function of (seed, epoch); bad tables are
-- errors naming the field.
local mtfl = require "mtfl"
local data = require "mtfl.data"
local T = require "harness"
local H = require "data_helpers"

mtfl.set_device("cpu")
local S = 32
local set = data.synthetic{n = 12, size = S, seed = 5}
local ALL = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}

-- images of a batch as nested tables [k][c][y][x]
local function pixels(batch) return batch.images:totable() end

local function luma(img, y, x) return 0.299 * img[1][y][x] + 0.587 * img[2][y][x] + 0.114 * img[3][y][x] end

-- ---- landmarks stay on the dots -----------------------------------------------------

local COLOURS = {{255, 0, 0}, {0, 255, 0}, {0, 0, 255}, {255, 255, 0}, {0, 255, 255}}
local DOTS = {50, 78, 64, 54, 74, 52, 52, 66, 82, 82}   -- x1..x5, y1..y5 in a 128x128 image
local MIRRORED = {2, 1, 3, 5, 4}

-- An MTFL folder of black 128x128 images with a coloured dot on each landmark, the
-- face placed differently in each; pose 2, so that a mirror shows as pose 4.
local function dot_mtfl(n)
  local dir = H.temp_dir("dots")
  os.execute("mkdir -p '" .. dir .. "/img'")
  local lines = {}
  for i = 1, n do
    local img = data.image(128, 128, {0, 0, 0})
    local dx, dy = (i % 5) * 3 - 6, (i % 3) * 4 - 4
    local fields = {string.format("img\\%02d.png", i)}
    for k = 1, 5 do
      local x, y = DOTS[k] + dx, DOTS[k + 5] + dy
      img:mark(x, y, {radius = 3, color = COLOURS[k]})
      fields[k + 1], fields[k + 6] = string.format("%.3f", x), string.format("%.3f", y)
    end
    img:save(string.format("%s/img/%02d.png", dir, i))
    fields[#fields + 1] = "1 2 2 2"
    lines[#lines + 1] = table.concat(fields, " ")
  end
  H.write(dir .. "/training.txt", table.concat(lines, "\r\n") .. "\r\n")
  H.write(dir .. "/testing.txt", table.concat(lines, "\r\n") .. "\r\n")
  return dir
end

-- The brightness-weighted centre of the pixels within 4 of (x, y), and their mean colour.
local function dot_at(img, size, x, y)
  local sx, sy, sw, colour = 0, 0, 0, {0, 0, 0}
  for py = math.max(0, math.floor(y - 4)), math.min(size - 1, math.floor(y + 4)) do
    for px = math.max(0, math.floor(x - 4)), math.min(size - 1, math.floor(x + 4)) do
      local w = img[1][py + 1][px + 1] + img[2][py + 1][px + 1] + img[3][py + 1][px + 1]
      sx, sy, sw = sx + w * (px + 0.5), sy + w * (py + 0.5), sw + w
      for c = 1, 3 do colour[c] = colour[c] + img[c][py + 1][px + 1] end
    end
  end
  return sx / sw, sy / sw, colour
end

T.test("rotation, scale, shift and mirror: the dots are where the landmarks went (within 1 px)", function()
  local dir = dot_mtfl(6)
  local size = 48
  local ds = data.load{dir = dir, protocol = "crop", size = size, cache = false,
                       jitter = {scale = 0.15, shift = 0.08, rotate = 30}}
  T.eq(ds.train:info().jitter.rotate, 30, "the set's jitter includes the rotation")
  -- the stored window holds the turned, zoomed-out, shifted box: side 48 here
  local need = 48 * (1.15 * (math.cos(math.rad(30)) + math.sin(math.rad(30))) + 2 * 0.08)
  T.truthy(ds.train:sample(1).width >= need, "window " .. ds.train:sample(1).width .. " >= " .. need)
  local worst, mirrored, turned = 0, 0, 0
  for _, fill in ipairs{"edge", "black"} do
    local loader = data.loader(ds.train, {batch = 6, seed = 3, augment = {mirror = true, fill = fill}})
    for epoch = 1, 8 do
      local b = loader:get(epoch, 1)
      local imgs, pts = pixels(b), b.landmarks:totable()
      for k = 1, b.count do
        local mirror = b.pose[k] == 4
        if mirror then mirrored = mirrored + 1 end
        local p = pts[k]
        -- the eyes' line turns with the rotation
        if math.abs(p[7] - p[6]) > 2 then turned = turned + 1 end
        for point = 1, 5 do
          local x, y, colour = dot_at(imgs[k], size, p[point], p[point + 5])
          worst = math.max(worst, math.abs(x - p[point]), math.abs(y - p[point + 5]))
          local want = COLOURS[mirror and MIRRORED[point] or point]
          for c = 1, 3 do
            T.truthy((want[c] > 0) == (colour[c] > 0.05 * (colour[1] + colour[2] + colour[3])),
                     string.format("epoch %d face %d point %d: the dot's colour", epoch, k, point))
          end
        end
      end
    end
  end
  print(string.format("  worst dot distance %.3f px, %d mirrored, %d turned", worst, mirrored, turned))
  T.truthy(worst < 1, "largest distance of a dot from its landmark " .. worst .. " px")
  T.truthy(mirrored > 10 and mirrored < 86, "about half mirrored: " .. mirrored .. " of 96")
  T.truthy(turned > 48, "most faces turned: " .. turned .. " of 96")
  H.remove(dir)
end)

T.test("crop: the rotation's room is part of the cache key, and its jitter comes back from the cache", function()
  local dir, cache = dot_mtfl(3), H.temp_dir("cache")
  local function load(jitter) return data.load{dir = dir, protocol = "crop", size = 32, cache = cache, jitter = jitter} end
  local plain, turned = load(), load{rotate = 30}
  T.eq(turned.info.from_cache, false, "another rotation: not the first load's cache")
  T.truthy(turned.train:sample(1).width > plain.train:sample(1).width + 5, "more room for the rotation")
  local again, turned_again = load(), load{rotate = 30}
  T.truthy(again.info.from_cache and turned_again.info.from_cache, "each from its own cache")
  T.eq(again.train:info().jitter.rotate, 0, "no rotation")
  T.eq(turned_again.train:info().jitter.rotate, 30, "the rotation, from the cache")
  T.near(turned_again.train:info().jitter.scale, 0.1, 1e-6, "the scale, from the cache")
  H.remove(dir)
  H.remove(cache)
end)

T.test("set:render takes a rotation: the points turn about the centre", function()
  local _, p = set:render(2)
  local _, q = set:render(2, {jitter = {rotate = 90}})
  for k = 1, 5 do   -- 90 degrees about (16, 16): (x, y) -> (32 - y, x), in y-down pixels
    T.near(q[k], S - p[k + 5], 1e-3, "x" .. k)
    T.near(q[k + 5], p[k], 1e-3, "y" .. k)
  end
end)

-- ---- photometric operations ---------------------------------------------------------------

local function batches(augment, epoch)
  local plain = pixels(set:batch(ALL))
  local aug = pixels(set:batch(ALL, {augment = augment, seed = 9, epoch = epoch or 1}))
  return plain, aug
end

T.test("brightness multiplies every pixel by one factor per image (clamped at 1)", function()
  local plain, aug = batches{color = {brightness = 0.3}}
  local factors = {}
  for k = 1, #ALL do
    -- the factor from the brightest pixel that cannot have clipped
    local best, f = 0, nil
    for y = 1, S do for x = 1, S do
      local v = plain[k][1][y][x]
      if v > best and v < 0.75 then best, f = v, aug[k][1][y][x] / v end
    end end
    T.truthy(f >= 0.7 - 1e-6 and f <= 1.3 + 1e-6, "factor " .. f .. " in [0.7, 1.3]")
    factors[string.format("%.4f", f)] = true
    for c = 1, 3 do for y = 1, S, 3 do for x = 1, S, 3 do
      T.near(aug[k][c][y][x], math.min(1, plain[k][c][y][x] * f), 1e-5, "pixel")
    end end end
  end
  local n = 0
  for _ in pairs(factors) do n = n + 1 end
  T.truthy(n > 6, "the factor differs between images")
end)

T.test("contrast blends with the mean gray; saturation keeps each pixel's gray", function()
  local plain, aug = batches{color = {contrast = 0.4}}
  for k = 1, #ALL do
    local sum = 0
    for y = 1, S do for x = 1, S do sum = sum + luma(plain[k], y, x) end end
    local m = sum / (S * S)
    -- f from the pixel farthest from the mean; then every unclamped pixel obeys it
    local far, f = 0, 1
    for y = 1, S do for x = 1, S do
      local d = plain[k][2][y][x] - m
      if math.abs(d) > far then far, f = math.abs(d), (aug[k][2][y][x] - m) / d end
    end end
    if f <= 1 then   -- nothing clipped: the value is exact
      for c = 1, 3 do for y = 1, S, 2 do for x = 1, S, 2 do
        T.near(aug[k][c][y][x], m + f * (plain[k][c][y][x] - m), 1e-4, "contrast pixel")
      end end end
    end
    T.truthy(f > 0.6 - 1e-3 and f < 1.4 + 1e-3, "contrast factor " .. f)
  end
  plain, aug = batches{color = {saturation = 0.8}}
  for k = 1, #ALL do
    for y = 1, S, 2 do for x = 1, S, 2 do
      local clipped = false
      for c = 1, 3 do clipped = clipped or aug[k][c][y][x] <= 0 or aug[k][c][y][x] >= 1 end
      if not clipped then T.near(luma(aug[k], y, x), luma(plain[k], y, x), 1e-4, "gray kept") end
    end end
  end
end)

T.test("grayscale: equal channels, the luma of the colour image", function()
  local plain, aug = batches{grayscale = 1}
  for k = 1, #ALL do
    for y = 1, S do for x = 1, S do
      T.eq(aug[k][1][y][x], aug[k][2][y][x], "red = green")
      T.eq(aug[k][2][y][x], aug[k][3][y][x], "green = blue")
    end end
    T.near(aug[k][1][7][9], luma(plain[k], 7, 9), 1e-5, "luma")
  end
  -- with probability 0.5, some images are gray and some are not
  local _, half = batches{grayscale = 0.5}
  local gray = 0
  for k = 1, #ALL do
    local same = true
    for y = 1, S, 4 do for x = 1, S, 4 do same = same and half[k][1][y][x] == half[k][3][y][x] end end
    if same then gray = gray + 1 end
  end
  T.truthy(gray > 0 and gray < #ALL, "some gray: " .. gray .. " of " .. #ALL)
end)

T.test("blur smooths (less variation between neighbours), keeps the mean", function()
  local plain, aug = batches{blur = {p = 1, sigma = {1, 2}}}
  for k = 1, #ALL do
    local tv0, tv1, m0, m1 = 0, 0, 0, 0
    for y = 1, S do for x = 1, S - 1 do
      tv0 = tv0 + math.abs(plain[k][1][y][x + 1] - plain[k][1][y][x])
      tv1 = tv1 + math.abs(aug[k][1][y][x + 1] - aug[k][1][y][x])
      m0, m1 = m0 + plain[k][1][y][x], m1 + aug[k][1][y][x]
    end end
    T.truthy(tv1 < 0.8 * tv0, string.format("image %d: variation %.2f after, %.2f before", k, tv1, tv0))
    T.near(m1 / (S * (S - 1)), m0 / (S * (S - 1)), 0.03, "mean")
  end
end)

T.test("erase changes one rectangle of the drawn area and nothing else", function()
  for _, fill in ipairs{"noise", "mean"} do
    local plain, aug = batches{erase = {p = 1, area = {0.05, 0.2}, fill = fill}}
    for k = 1, #ALL do
      local x0, y0, x1, y1 = S, S, -1, -1
      for y = 1, S do for x = 1, S do
        for c = 1, 3 do
          if aug[k][c][y][x] ~= plain[k][c][y][x] then
            x0, y0, x1, y1 = math.min(x0, x), math.min(y0, y), math.max(x1, x), math.max(y1, y)
          end
        end
      end end
      T.truthy(x1 >= x0, "something erased in image " .. k)
      local area = (x1 - x0 + 1) * (y1 - y0 + 1) / (S * S)
      T.truthy(area <= 0.2 + 0.05, string.format("%s: area %.3f", fill, area))
      -- inside the box of changes, every pixel is the fill: one colour under "mean"
      if fill == "mean" then
        for y = y0, y1 do for x = x0, x1 do
          for c = 1, 3 do T.eq(aug[k][c][y][x], aug[k][c][y0][x0], "mean fill") end
        end end
      end
    end
  end
end)

-- ---- zero strength, determinism ------------------------------------------------------------

local EVERYTHING = {mirror = true, rotate = 20, scale = 0.15, shift = 0.08, color = 0.3, grayscale = 0.1,
                    blur = {p = 0.2, sigma = {0.5, 1.5}}, erase = {p = 0.3, area = {0.02, 0.15}}}

T.test("zero strength everywhere is exactly no augmentation", function()
  local plain = set:batch(ALL)
  for _, zero in ipairs{
      {rotate = 0, scale = 0, shift = 0, translate = 0, mirror = false, color = 0, grayscale = 0,
       blur = {p = 0}, erase = {p = 0}},
      {color = {brightness = 0, contrast = 0, saturation = 0}, blur = {p = 1, sigma = 0},
       erase = {p = 1, area = 0}, mirror = 0}} do
    local b = set:batch(ALL, {augment = zero, seed = 4, epoch = 3})
    T.eq(mtfl.max_abs_diff(b.images, plain.images), 0, "images")
    T.eq(mtfl.max_abs_diff(b.landmarks, plain.landmarks), 0, "landmarks")
  end
end)

T.test("all augmentations on: the same (seed, epoch) gives the same batch, another epoch another", function()
  local one = data.loader(set, {batch = 5, seed = 7, augment = EVERYTHING})
  local three = data.loader(set, {batch = 5, seed = 7, augment = EVERYTHING, workers = 3, prefetch = 3})
  for _, at in ipairs{{1, 1}, {2, 2}, {1, 3}, {3, 1}} do
    local a, b = one:get(at[1], at[2]), three:get(at[1], at[2])
    T.eq(mtfl.max_abs_diff(a.images, b.images), 0, "pixels")
    T.eq(mtfl.max_abs_diff(a.landmarks, b.landmarks), 0, "landmarks")
  end
  local again = one:get(2, 2)
  local direct = set:batch(again.indices, {augment = EVERYTHING, seed = 7, epoch = 2})
  T.eq(mtfl.max_abs_diff(direct.images, again.images), 0, "set:batch gives the loader's augmentation")
  local e1 = set:batch(ALL, {augment = EVERYTHING, seed = 7, epoch = 1})
  local e2 = set:batch(ALL, {augment = EVERYTHING, seed = 7, epoch = 2})
  T.truthy(mtfl.max_abs_diff(e1.images, e2.images) > 0.1, "another epoch, other images")
  T.truthy(mtfl.max_abs_diff(e1.landmarks, e2.landmarks) > 0.1, "and other landmarks")
  -- turning on the photometric operations leaves the geometry of each sample as it was
  local geometric = set:batch(ALL, {augment = {mirror = true, rotate = 20, scale = 0.15, shift = 0.08}, seed = 7, epoch = 1})
  T.eq(mtfl.max_abs_diff(geometric.landmarks, e1.landmarks), 0, "photometric draws apart from the geometric")
end)

-- ---- the table is checked ---------------------------------------------------------------------

T.test("bad augment tables are errors naming the field", function()
  local function bad(augment, ...)
    T.raises(function() local l = data.loader(set, {augment = augment}) return l end, ...)
    T.raises(function() local b = set:batch({1}, {augment = augment}) return b end, ...)
  end
  bad({rotation = 20}, "augment: unknown field 'rotation'", "rotate")
  bad({[1] = true}, "augment: unknown field number")
  bad({rotate = "20"}, "augment.rotate must be a number, got string")
  bad({rotate = 200}, "augment: rotate 200 (0..180)")
  bad({scale = 1.5}, "scale 1.5")
  bad({shift = -0.1}, "augment: shift -0.1")
  bad({mirror = "yes"}, "augment.mirror must be a boolean or a probability")
  bad({mirror = 2}, "augment: mirror 2")
  bad({color = 1.5}, "augment: brightness 1.5")
  bad({color = {hue = 0.1}}, "augment.color: unknown field 'hue'")
  bad({color = "strong"}, "augment.color must be a number or {brightness, contrast, saturation}")
  bad({grayscale = true}, "augment.grayscale must be a number, got boolean")
  bad({grayscale = 1.1}, "augment: grayscale 1.1")
  bad({blur = 0.2}, "augment.blur must be a table (or false), got number")
  bad({blur = {sigma = 1}}, "augment.blur.p (the probability) must be a number, got nil")
  bad({blur = {p = 2}}, "augment: blur.p 2")
  bad({blur = {p = 0.5, sigma = {2, 1}}}, "augment: blur.sigma {2, 1}")
  bad({blur = {p = 0.5, sigma = {1}}}, "augment.blur.sigma must be {low, high}, got 1 numbers")
  bad({blur = {p = 0.5, radius = 3}}, "augment.blur: unknown field 'radius'")
  bad({erase = {p = 0.5, area = {0.3, 0.1}}}, "augment: erase.area {0.3, 0.1}")
  bad({erase = {p = 0.5, area = {0.1, 1.5}}}, "erase.area")
  bad({erase = {p = 0.5, fill = "zero"}}, "augment.erase.fill is 'zero' (use \"noise\" or \"mean\")")
  bad({erase = {p = 0.5, aspect = {0, 2}}}, "augment: erase.aspect")
  bad({fill = "blue"}, "fill 'blue'")
  bad("mirror", "augment must be a table or false, got string")
  T.raises(function() local d = data.load{dir = "/nonexistent", protocol = "crop", jitter = {rotate = 400}} return d end,
           "rotate 400")
end)

T.test("a set's jitter comes back as a valid augment table (merged by the loader)", function()
  local info = set:info().jitter
  T.eq(info.rotate, 0, "rotate")
  T.eq(type(info.color), "table", "color as a table")
  local l = data.loader(set, {batch = 4, augment = info})
  T.eq(l:get(1, 1).count, 4, "the table round-trips")
end)

T.run_all()
