-- Augmentation keeps the landmarks on the same facial points: a mirror twice is the
-- identity, a translation moves points and pixels exactly, zoom and shift follow the
-- box; and the loader: shapes, devices, determinism, epochs.
local mtfl = require "mtfl"
local data = require "mtfl.data"
local T = require "harness"
local H = require "data_helpers"

mtfl.set_device("cpu")
local S = 32
local set = data.synthetic{n = 30, size = S, seed = 4}

-- Pixel (x, y) (0-based) of an image's bytes, as "rgb".
local function pixel(bytes, x, y) local at = (y * S + x) * 3 return bytes:sub(at + 1, at + 3) end

T.test("a mirror swaps sides and poses; twice is the identity", function()
  for i = 1, 10 do
    local plain, p, labels = set:render(i)
    local mirrored, q, mlabels = set:render(i, {jitter = {mirror = true}})
    T.eq(mlabels.pose, data.mirror_pose(labels.pose), "pose mirrored")
    local back = data.mirror_points(q, S)
    for k = 1, 10 do T.near(back[k], p[k], 1e-5, "point " .. k .. " after two mirrors") end
    T.near(q[1], S - p[2], 1e-5, "the new left eye is the old right eye")
    T.near(q[3], S - p[3], 1e-5, "the nose is the nose")
    local a, b = plain:bytes(), mirrored:bytes()
    for y = 0, S - 1, 7 do
      for x = 0, S - 1, 5 do T.eq(pixel(b, S - 1 - x, y), pixel(a, x, y), "mirrored pixel") end
    end
  end
  for pose = 1, 5 do T.eq(data.mirror_pose(data.mirror_pose(pose)), pose, "pose twice") end
end)

T.test("a translation moves points and pixels by exactly that many pixels", function()
  local plain, p = set:render(3)
  for _, t in ipairs{-5, 2, 7} do
    local moved, q = set:render(3, {jitter = {translate = t}})
    for k = 1, 5 do
      T.near(q[k], p[k] + t, 1e-5, "x" .. k)
      T.near(q[k + 5], p[k + 5], 1e-5, "y" .. k)
    end
    local a, b = plain:bytes(), moved:bytes()
    for y = 0, S - 1, 3 do
      for x = math.max(0, t), math.min(S, S + t) - 1 do T.eq(pixel(b, x, y), pixel(a, x - t, y), "moved pixel") end
    end
  end
end)

T.test("zoom and shift move the points with the box", function()
  local s = set:sample(5)
  local _, q = set:render(5, {jitter = {zoom = 1.25, dx = 0.1, dy = -0.05}})
  local w = s.box[3] * 1.25
  local x0 = s.box[1] + s.box[3] * (0.5 + 0.1) - w / 2
  local y0 = s.box[2] + s.box[4] * (0.5 - 0.05) - w / 2
  for k = 1, 5 do
    T.near(q[k], (s.points[k] - x0) * S / w, 1e-4, "x" .. k)
    T.near(q[k + 5], (s.points[k + 5] - y0) * S / w, 1e-4, "y" .. k)
  end
end)

T.test("batches: shapes, labels, device, landmark units", function()
  local b = set:batch({1, 2, 3}, {device = "cpu"})
  T.eq(b.images:shape_string(), "3x3x32x32", "images")
  T.eq(b.landmarks:shape_string(), "3x10", "landmarks")
  T.eq(b.pose:shape_string(), "3", "pose")
  T.truthy(b.images:max() <= 1 and b.images:min() >= 0, "pixels / 255")
  local _, p, labels = set:render(2)
  T.near(b.landmarks[2][4], p[4], 1e-5, "batch landmarks are the rendered ones")
  T.eq(b.glasses[2], labels.glasses, "labels 1-based")
  local l = data.loader(set, {batch = 4, landmarks = "unit", shuffle = false, augment = false})
  local first = l:get(1, 1)
  T.near(first.landmarks[2][4], p[4] / S, 1e-6, "unit landmarks")
  T.eq(first.images:device(), mtfl.device(), "on the default device")
  T.raises(function() local x = set:batch({1, 99}) return x end, "entry 2 of the indices is 99")
end)

T.test("the loader: batches per epoch, drop_last, every sample once per epoch", function()
  local l = data.loader(set, {batch = 7, seed = 3})
  T.eq(l:batches(), 5, "30 samples in batches of 7")
  T.eq(data.loader(set, {batch = 7, drop_last = true}):batches(), 4, "drop_last")
  local seen, count = {}, 0
  for b in l:epoch() do
    for _, i in ipairs(b.indices) do seen[i] = (seen[i] or 0) + 1 end
    count = count + b.count
  end
  T.eq(count, 30, "samples in an epoch")
  for i = 1, 30 do T.eq(seen[i], 1, "sample " .. i) end
  l:close()
  T.raises(function() local b = l:get(1, 1) return b end, "loader used after close()")
end)

T.test("batches depend only on seed and epoch, not on workers or the order asked", function()
  local aug = {translate = 4, mirror = true, scale = 0.1, shift = 0.05}
  local a = data.loader(set, {batch = 8, seed = 7, augment = aug})
  local b = data.loader(set, {batch = 8, seed = 7, augment = aug, workers = 3, prefetch = 4})
  for _, at in ipairs{{2, 3}, {1, 1}, {1, 2}, {3, 4}, {1, 2}} do
    local x, y = a:get(at[1], at[2]), b:get(at[1], at[2])
    T.eq(table.concat(x.indices, ","), table.concat(y.indices, ","), "order")
    T.eq(mtfl.max_abs_diff(x.images, y.images), 0, "pixels")
    T.eq(mtfl.max_abs_diff(x.landmarks, y.landmarks), 0, "landmarks")
  end
  local direct = set:batch(a:get(2, 1).indices, {augment = aug, seed = 7, epoch = 2})
  T.eq(mtfl.max_abs_diff(direct.images, a:get(2, 1).images), 0, "set:batch gives the loader's jitter")
  local other = data.loader(set, {batch = 8, seed = 8, augment = aug})
  T.truthy(table.concat(other:get(1, 1).indices, ",") ~= table.concat(a:get(1, 1).indices, ","), "another seed")
  -- breaking out of an epoch: the next one starts cleanly
  for _, i in a:epoch(5) do if i == 2 then break end end
  local n = 0
  for bt in a:epoch() do n = n + bt.count end
  T.eq(n, 30, "the epoch after a broken one is whole")
end)

T.test("augmentation options: the set's jitter by default, false turns it off", function()
  local crop_like = set:subset({1, 2, 3, 4})
  T.eq(crop_like:info().jitter.scale, 0, "synthetic sets carry no jitter")
  local off = data.loader(set, {batch = 5, augment = false, shuffle = false})
  local plain = set:batch({1, 2, 3, 4, 5})
  T.eq(mtfl.max_abs_diff(off:get(1, 1).images, plain.images), 0, "no augmentation")
  -- the crop protocol's training set brings its own scale/shift jitter
  local dir = H.synthetic_mtfl{train = 6, test = 2, size = 48}
  local crop = data.load{dir = dir, protocol = "crop", size = 32, cache = false}
  T.near(crop.train:info().jitter.scale, 0.1, 1e-6, "crop jitter")
  local jittered = data.loader(crop.train, {batch = 6, shuffle = false, augment = {mirror = 0}})
  local fixed = data.loader(crop.train, {batch = 6, shuffle = false, augment = false})
  T.truthy(mtfl.max_abs_diff(jittered:get(1, 1).landmarks, fixed:get(1, 1).landmarks) > 0.1, "jitter kept when merging")
  T.eq(mtfl.max_abs_diff(fixed:get(1, 1).landmarks, fixed:get(2, 1).landmarks), 0, "no jitter: every epoch alike")
  T.truthy(mtfl.max_abs_diff(jittered:get(1, 1).landmarks, jittered:get(2, 1).landmarks) > 0.1, "fresh jitter each epoch")
  H.remove(dir)
  T.raises(function() local l = data.loader(set, {augment = {scale = 1.5}}) return l end, "scale 1.5")
  T.raises(function() local l = data.loader(set, {augment = {fill = "blue"}}) return l end, "fill 'blue'")
  T.raises(function() local l = data.loader(set, {batch = 0}) return l end, "batch size 0")
  T.raises(function() local l = data.loader(set, {landmarks = "cm"}) return l end, "landmarks \"cm\"")
end)

T.run_all()
