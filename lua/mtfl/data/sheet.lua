-- mtfl.data.sheet: faces annotated with landmarks, as PNG contact sheets: a row per
-- face, a column per network (the seed study's Fig. 6).
--
--   data.sheet.contact_sheet{file = "faces.png", set = ds.test, faces = {3, 17, 42},
--     columns = {{name = "single-task", landmarks = pred1}, {name = "multi-task", landmarks = pred2}},
--     truth = true}
--
-- Predicted points are discs in one colour per landmark, joined by a line to the true
-- point (a white ring) when truth is drawn. landmarks are [#faces, 10] tensors or
-- tables, in the coordinates of the set rendered at its size (what a batch holds).
local mtfl = require "mtfl"
local C = mtfl._data
local call = require "mtfl.data.call"
local errors = require "mtfl.errors"

local M = {}

M.COLORS = {{230, 25, 75}, {60, 180, 75}, {255, 225, 25}, {0, 130, 200}, {240, 50, 230}}
local NAMES = {"left eye", "right eye", "nose", "left mouth", "right mouth"}
local WHITE, BACKGROUND, TEXT = {255, 255, 255}, {32, 32, 36}, {230, 230, 230}

-- Row k of a [N, 10] tensor or a table of 10-number tables.
local function rows_of(landmarks, count, name)
  local rows = mtfl.is_tensor(landmarks) and landmarks:to("cpu"):totable() or landmarks
  if type(rows) ~= "table" or #rows ~= count then
    errors.raisef("contact_sheet: column %q needs landmarks for %d faces, got %s", name, count,
                  type(rows) == "table" and #rows or type(rows))
  end
  for k, r in ipairs(rows) do
    if type(r) ~= "table" or #r ~= 10 then
      errors.raisef("contact_sheet: column %q, face %d: want 10 numbers (x1..x5, y1..y5)", name, k)
    end
  end
  return rows
end

local function draw_points(tile, pred, truth, scale, radius)
  for k = 1, 5 do
    local px, py = pred[k] * scale, pred[k + 5] * scale
    if truth then
      local tx, ty = truth[k] * scale, truth[k + 5] * scale
      tile:line(tx, ty, px, py, {width = math.max(1, radius / 2), color = M.COLORS[k]})
      tile:mark(tx, ty, {radius = radius + 1, style = "ring", color = WHITE})
    end
    tile:mark(px, py, {radius = radius, color = M.COLORS[k]})
  end
end

local function legend_width(text, with_truth)
  local w = 0
  for k = 1, 5 do w = w + 16 * text + C.text_width(NAMES[k], text) end
  if with_truth then w = w + 12 * text + C.text_width("truth", text) end
  return w + 12 * text
end

local function layout(o, ncols, nrows)
  local tile = o.tile
  local text = math.max(1, tile // 100)
  local l = {tile = tile, text = text, pad = 6 * text, label_w = C.text_width("face 99999", text) + 12 * text,
             head_h = 16 * text}
  l.width = math.max(l.label_w + ncols * (tile + l.pad) + l.pad, legend_width(text, o.truth))
  l.legend_y = l.head_h + nrows * (tile + l.pad) + l.pad
  l.height = l.legend_y + 16 * text + l.pad
  return l
end

local function draw_legend(sheet, l, with_truth)
  local x = l.pad
  for k = 1, 5 do
    sheet:mark(x + 5 * l.text, l.legend_y + 4 * l.text, {radius = 4 * l.text, color = M.COLORS[k]})
    x = x + 12 * l.text + sheet:text(x + 12 * l.text, l.legend_y, NAMES[k], {scale = l.text, color = TEXT}) + 4 * l.text
  end
  if with_truth then
    sheet:mark(x + 5 * l.text, l.legend_y + 4 * l.text, {radius = 4 * l.text, style = "ring", color = WHITE})
    sheet:text(x + 12 * l.text, l.legend_y, "truth", {scale = l.text, color = TEXT})
  end
end

--- contact_sheet{file, set, faces = {sample numbers}, columns = {{name, landmarks}},
--- truth = false, tile = the set's size} -> the image (also written to file)
function M.contact_sheet(o)
  if type(o) ~= "table" or not o.set or type(o.faces) ~= "table" or type(o.columns) ~= "table" then
    errors.raise("contact_sheet: needs {set =, faces = {...}, columns = {{name =, landmarks =}, ...}}")
  end
  local size = o.set:info().size
  o.tile = o.tile or size
  local n, columns = #o.faces, {}
  for c, col in ipairs(o.columns) do columns[c] = rows_of(col.landmarks, n, col.name or tostring(c)) end
  local l = layout(o, #o.columns, n)
  local sheet = call(C.image, l.width, l.height, BACKGROUND)
  for c, col in ipairs(o.columns) do
    sheet:text(l.label_w + l.pad + (c - 1) * (l.tile + l.pad), l.pad // 2, col.name or ("network " .. c),
               {scale = l.text, color = TEXT})
  end
  local scale = l.tile / size
  for r, face in ipairs(o.faces) do
    local y = l.head_h + (r - 1) * (l.tile + l.pad)
    sheet:text(l.pad, y + l.tile // 2 - 4 * l.text, "face " .. face, {scale = l.text, color = TEXT})
    for c = 1, #o.columns do
      local tile, truth = o.set:render(face, {size = l.tile})
      for k = 1, 10 do truth[k] = truth[k] / scale end   -- back to the set's coordinates
      draw_points(tile, columns[c][r], o.truth and truth, scale, math.max(2, l.tile / 50))
      sheet:paste(tile, l.label_w + l.pad + (c - 1) * (l.tile + l.pad), y)
    end
  end
  draw_legend(sheet, l, o.truth)
  if o.file then call(sheet.save, sheet, o.file) end
  return sheet
end

return M
