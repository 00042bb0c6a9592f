-- Pictures: annotated faces on a contact sheet, drawing on images, and plots through
-- gnuplot with their CSV data; a missing gnuplot is a clear error.
local mtfl = require "mtfl"
local data = require "mtfl.data"
local T = require "harness"
local H = require "data_helpers"

mtfl.set_device("cpu")

local function png_size(path)
  local img = data.image_load(path)
  return img:size()
end

T.test("a contact sheet: a row per face, a column per network", function()
  local dir = H.temp_dir("sheet")
  local set = data.synthetic{n = 6, size = 64, seed = 5}
  local faces = {2, 4, 6}
  local truth = set:batch(faces).landmarks
  local sheet = data.sheet.contact_sheet{file = dir .. "/sheet.png", set = set, faces = faces, truth = true,
    columns = {{name = "exact", landmarks = truth}, {name = "off by 3", landmarks = truth + 3},
               {name = "as a table", landmarks = (truth - 2):totable()}}}
  local w, h = png_size(dir .. "/sheet.png")
  T.eq(w, (sheet:size()), "written width")
  T.truthy(w > 3 * 64 and h > 3 * 64 and h < 5 * 64, string.format("sheet %dx%d", w, h))
  T.raises(function() local s = data.sheet.contact_sheet{set = set, faces = faces, columns = {{name = "x", landmarks = {}}}} return s end,
           "column \"x\" needs landmarks for 3 faces")
  T.raises(function() local s = data.sheet.contact_sheet{set = set} return s end, "contact_sheet: needs")
  H.remove(dir)
end)

T.test("drawing on images, and images to tensors and back", function()
  local img = data.image(20, 10, {10, 20, 30})
  T.eq(select(2, img:size()), 10, "height")
  img:mark(5, 5, {radius = 3, color = "#ff0000"}):line(0, 0, 19, 9, {color = {0, 255, 0}})
  img:rect(15, 0, 5, 5, {0, 0, 255})
  T.truthy(img:text(0, 0, "Hi\tthere \200", {scale = 1}) > 0, "text (odd bytes drawn as '?')")
  local t = img:to_tensor("cpu")
  T.eq(t:shape_string(), "3x10x20", "tensor shape")
  T.near(t[1][6][6], 1, 1e-6, "red mark")
  T.near(t[3][1][18], 1, 1e-6, "blue rect")
  T.eq(data.image_from_tensor(t):bytes(), img:bytes(), "tensor round trip")
  local small = img:resize(10, 5)
  T.eq(select(1, small:size()), 10, "resized")
  T.raises(function() local x = img:save("/tmp/x.gif") return x end, "write .png or .jpg")
  T.raises(function() local x = img:save("/no/such/dir/x.png") return x end, "/no/such/dir/x.png", "cannot create")
  T.raises(function() local x = data.image(0, 5) return x end, "image: size 0x5")
  T.raises(function() local x = img:mark(1, 1, {style = "star"}) return x end, "style 'star'")
  T.raises(function() local x = data.image(2, 2, "red") return x end, "colour 'red'")
  T.raises(function() local x = data.image_load("/no/such.png") return x end, "/no/such.png: cannot open")
  -- JPEG Huffman code counts that add up past 256 made stb_image 2.27 write past its
  -- tables (found by tests/fuzz/fuzz_image): refused before stb sees them, also after
  -- fill bytes before the start of the image
  local dir = H.temp_dir("dht")
  for name, bytes in pairs{plain = "\xff\xd8\xff\xc4\x01\xa2\x00\xff\xd9", fill = "\xff\xff\xff\xd8\xff\xc4\x01\xa2\x00\xff\xd9"} do
    local path = dir .. "/" .. name .. ".jpg"
    H.write(path, bytes)
    T.raises(function() local x = data.image_load(path) return x end, path .. ": not a readable JPEG or PNG (bad Huffman table)")
  end
  -- a PNG chunk declaring 2 GiB in a small file made stb ask for 2 GiB before reading it
  local png = dir .. "/big_chunk.png"
  img:save(png)
  local bytes = H.read(png)
  local at = bytes:find("IDAT", 1, true) - 4
  H.write(png, bytes:sub(1, at - 1) .. string.pack(">I4", 0x7fffffff) .. bytes:sub(at + 4))
  T.raises(function() local x = data.image_load(png) return x end, "not a readable JPEG or PNG (a chunk runs past the end of the file)")
  H.remove(dir)
end)

T.test("plots through gnuplot, with the data as CSV", function()
  local dir = H.temp_dir("plots")
  local ok, why = data.plot.available()
  local ex = {{name = "single-task", accuracy = {0.16, 0.15, 0.23, 0.20, 0.23}},
              {name = "multi, aug", accuracy = {0.22, 0.20, 0.24, 0.26, 0.26}}}
  local series = {{name = "pose", values = {0.5, 0.6, 0.62}}, {name = "glasses", values = {0.9, 0.91}}}
  if not ok then
    print("  (" .. why .. ": PNG checks skipped)")
  else
    local png, csv = data.plot.landmark_accuracy{file = dir .. "/fig2.png", experiments = ex}
    T.eq(csv, dir .. "/fig2.csv", "CSV beside the PNG")
    T.eq(H.read(png):sub(1, 8), "\137PNG\r\n\26\n", "a PNG")
    T.eq(H.read(csv), 'landmark,single-task,"multi, aug"\nleft eye,0.1600,0.2200\nright eye,0.1500,0.2000\n' ..
      "nose,0.2300,0.2400\nleft mouth,0.2000,0.2600\nright mouth,0.2300,0.2600\nmean of 5,0.1940,0.2360\n", "CSV")
    data.plot.per_epoch{file = dir .. "/fig4.png", csv = dir .. "/epochs.csv", series = series}
    T.eq(H.read(dir .. "/epochs.csv"), "epoch,pose,glasses\n1,0.5,0.9\n2,0.6,0.91\n3,0.62,\n", "epoch CSV")
    T.truthy(select(1, png_size(dir .. "/fig4.png")) == 900, "default width")
  end
  -- no gnuplot: the CSV is still written, and the error says what to install
  T.raises(function() local x = data.plot.per_epoch{file = dir .. "/x.png", series = series, gnuplot = "/no/gnuplot"} return x end,
           "gnuplot was not found: install gnuplot-nox")
  T.eq(H.read(dir .. "/x.csv"):sub(1, 18), "epoch,pose,glasses", "the data survives")
  T.raises(function() local x = data.plot.landmark_accuracy{file = dir .. "/y.png", experiments = {{name = "a", accuracy = {1}}}} return x end,
           "needs accuracy = {5 numbers}")
  T.raises(function() local x = data.plot.per_epoch{series = series} return x end, "needs {file")
  H.remove(dir)
end)

T.run_all()
