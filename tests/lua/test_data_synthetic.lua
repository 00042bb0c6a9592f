-- Synthetic faces: deterministic per seed, labelled, and written in the MTFL format so
-- that the same reader loads them back (a round trip through the files as distributed).
local mtfl = require "mtfl"
local data = require "mtfl.data"
local T = require "harness"
local H = require "data_helpers"

mtfl.set_device("cpu")

T.test("a face depends on (seed, index) only", function()
  local a, b = data.synthetic{n = 5, size = 40, seed = 3}, data.synthetic{n = 20, size = 40, seed = 3, threads = 1}
  for i = 1, 5 do T.eq(a:render(i):bytes(), b:render(i):bytes(), "face " .. i) end
  local c = data.synthetic{n = 5, size = 40, seed = 4}
  T.truthy(a:render(1):bytes() ~= c:render(1):bytes(), "another seed, another face")
end)

T.test("landmarks lie on the face and labels cover every class", function()
  local set = data.synthetic{n = 300, size = 64, seed = 1}
  local seen = {gender = {}, smile = {}, glasses = {}, pose = {}}
  for i = 1, #set do
    local s = set:sample(i)
    for k = 1, 10 do T.truthy(s.points[k] > 4 and s.points[k] < 60, "point inside the picture") end
    T.truthy(s.points[1] < s.points[2], "left eye on the left")
    T.truthy(s.points[6] < s.points[8] and s.points[8] < s.points[9], "eyes above the nose above the mouth")
    for name, counts in pairs(seen) do counts[s[name]] = (counts[s[name]] or 0) + 1 end
  end
  for name, counts in pairs(seen) do
    for c = 1, data.ATTRIBUTES[name].classes do
      T.truthy((counts[c] or 0) >= 10, string.format("%s class %d drawn %d times", name, c, counts[c] or 0))
    end
  end
  T.truthy(seen.pose[3] > seen.pose[1] + seen.pose[5], "mostly frontal, as in MTFL")
end)

T.test("written as distributed: CRLF, leading spaces, backslashes, trailing space", function()
  local dir = H.synthetic_mtfl{train = 3, test = 2, size = 32, format = "png"}
  local text = H.read(dir .. "/training.txt")
  T.truthy(text:find("^synthetic_train\\000001%.png %d+%.%d%d%d%d%d%d "), text:sub(1, 60))
  T.truthy(text:find("\r\n synthetic_train\\000002%.png "), "second line starts with a space")
  T.eq(text:sub(-3), "\r\n ", "a lone space after the last line break")
  local _, crlf = text:gsub("\r\n", "")
  T.eq(crlf, 3, "one CRLF per line")
  H.remove(dir)
end)

T.test("round trip through the MTFL reader: the same pixels and landmarks", function()
  local dir, train, test = H.synthetic_mtfl{train = 12, test = 6, size = 32, format = "png",
                                           gray_every = 5, nonsquare_every = 4}
  local ds = data.load{dir = dir, size = 32, validation = 2, cache = false}
  -- faces 4, 8, 12 stretched to 160x216, face 5 and 10 gray: the seed protocol drops them
  T.eq(ds.info.dropped_nonsquare, 3, "non-square dropped")
  T.eq(ds.info.dropped_gray, 2, "grayscale dropped")
  T.eq(#ds.train, 7, "square colour faces kept")
  T.eq(#ds.val + #ds.test, 6, "every test face")
  for i = 1, #ds.train do
    local s = ds.train:sample(i)
    local n = tonumber(s.path:match("(%d+)%.png$"))
    local original, p = train:render(n)
    local loaded, q = ds.train:render(i)
    T.eq(loaded:bytes(), original:bytes(), "pixels of face " .. n)
    for k = 1, 10 do T.near(q[k], p[k], 1e-5, "landmark " .. k .. " of face " .. n) end
    local truth = train:sample(n)
    for _, a in ipairs{"gender", "smile", "glasses", "pose"} do T.eq(s[a], truth[a], a) end
  end
  local _, p = test:render(3)
  local _, q = ds.test:render(1)
  for k = 1, 10 do T.near(q[k], p[k], 1e-5, "test landmark " .. k) end
  -- the crop protocol keeps the stretched and gray faces too
  local crop = data.load{dir = dir, protocol = "crop", size = 32, cache = false}
  T.eq(#crop.train, 12, "crop: every training face")
  H.remove(dir)
end)

T.test("JPEG round trip: landmarks exact, pixels close", function()
  local dir, train = H.synthetic_mtfl{train = 4, test = 2, size = 48, format = "jpg"}
  local ds = data.load{dir = dir, size = 48, cache = false}
  for i = 1, 4 do
    local a, b = train:render(i):to_tensor("cpu"), ds.train:render(i):to_tensor("cpu")
    T.truthy((a - b):abs():mean() < 0.03, "JPEG pixels close to the original")
  end
  H.remove(dir)
end)

T.test("the embedded default: data.open falls back to synthetic faces", function()
  T.raises(function() local x = data.open{args = {"--data", "/no/where"}} return x end, "no MTFL data in /no/where")
  if (os.getenv("MTFL_DATA") or "") ~= "" then return end   -- it would load the real data
  local ds = data.open{args = {}, synthetic = {train = 20, val = 5, test = 5, size = 32}}
  T.truthy(ds.info.synthetic, "no data from here (tests/lua): synthetic")
  T.eq(#ds.train, 20, "synthetic training faces")
  T.truthy(ds.info.note:find("synthetic", 1, true), ds.info.note)
  T.truthy(data.describe(ds):find("train 20", 1, true), data.describe(ds))
end)

T.run_all()
