-- The MTFL reader from Lua: the files as distributed, every kind of malformed line
-- (named by file, line and problem), stopping or skipping, and the real files.
local data = require "mtfl.data"
local T = require "harness"
local H = require "data_helpers"

local GOOD = "lfw_5590\\Aaron_Eckhart_0001.jpg 107.250000 147.750000 126.250000 106.250000 140.750000 " ..
             "108.750000 113.250000 143.750000 158.750000 162.750000 1 2 2 3"

T.test("the distributed format: CRLF, leading spaces, backslashes, a trailing space", function()
  local text = GOOD .. "\r\n AFLW/0002.jpg 1 2 3 4 5 6 7 8 9 10 2 1 1 5\r\n "
  local a = data.parse_annotations(text, "training.txt")
  T.eq(a.count, 2, "faces")
  T.eq(a.faces[1].path, "lfw_5590/Aaron_Eckhart_0001.jpg", "backslash turned into a slash")
  T.eq(a.faces[1].points[1], 107.25, "x1")
  T.eq(a.faces[1].points[10], 162.75, "y5")
  T.eq(a.faces[1].gender, 1, "gender")
  T.eq(a.faces[1].smile, 2, "smile")
  T.eq(a.faces[2].pose, 5, "pose")
  T.eq(a.faces[2].line, 2, "line")
  T.eq(a.skipped.count, 0, "nothing skipped")
end)

T.test("blank lines and LF-only files are fine; an empty file has no faces", function()
  local a = data.parse_annotations("\n\n" .. GOOD .. "\n   \n" .. GOOD .. "\n", "t.txt")
  T.eq(a.count, 2, "faces")
  T.eq(a.faces[2].line, 5, "line numbers count the blank lines")
  T.eq(data.parse_annotations("", "empty.txt").count, 0, "empty file")
end)

local BAD = {
  {"a.jpg 1 2 3 4 5 6 7 8 9 10 1 1 1", "14 fields, expected 15"},
  {"a.jpg 1 2 3 4 5 6 7 8 9 10 1 1 1 3 extra", "16 fields, expected 15 (path x1..x5 y1..y5 gender smile glasses pose) or 19"},
  {"a.jpg 1 2 3 4 5 6 7 8 9 10 1 1 1 3 0 0 10 10 1", "20 fields, expected 15"},
  {"a.jpg 1 2 3 4 5 6 7 8 9 10 1 1 1 3 0 0 wide 10", "box_width is 'wide', not a number"},
  {"a.jpg 1 2 3 4 5 6 7 8 9 10 1 1 1 3 0 0 0 10", "the face box is 0x10 pixels"},
  {"just_a_path.jpg", "1 fields, expected 15"},
  {"a.jpg 1 2 3 4 five 6 7 8 9 10 1 1 1 3", "x5 is 'five', not a number"},
  {"a.jpg 1 2 3 4 5 6,5 7 8 9 10 1 1 1 3", "y1 is '6,5', not a number"},
  {"a.jpg 1 2 3 4 5 6 7 8 9 inf 1 1 1 3", "y5 is 'inf', not a finite coordinate"},
  {"a.jpg 1 2 3 4 5 6 7 8 9 10 -1 1 1 3", "gender is -1, out of range 0..2 (0: unknown)"},
  {"a.jpg 1 2 3 4 5 6 7 8 9 10 1 3 1 3", "smile is 3, out of range 0..2"},
  {"a.jpg 1 2 3 4 5 6 7 8 9 10 1 1 9 3", "glasses is 9, out of range 0..2"},
  {"a.jpg 1 2 3 4 5 6 7 8 9 10 1 1 1 6", "pose is 6, out of range 0..5"},
  {"a.jpg 1 2 3 4 5 6 7 8 9 10 1 1 1 3.0", "pose is '3.0', not an integer label 0..5"},
  {"a.jpg 1 2 3 4 5 6 7 8 9 10 1 yes 1 3", "smile is 'yes', not an integer label 0..2"},
}

T.test("other lists: attribute 0 is unknown, a face box may follow", function()
  local a = data.parse_annotations("x/a.jpg 1 2 3 4 5 6 7 8 9 10 0 1 0 0 4.5 5 90 91.5\n" .. GOOD .. "\n", "list.txt")
  T.eq(#a.faces, 2)
  local f = a.faces[1]
  T.eq(table.concat({f.gender, f.smile, f.glasses, f.pose}, " "), "0 1 0 0")
  T.eq(table.concat(f.box, " "), "4.5 5.0 90.0 91.5")
  T.eq(a.faces[2].box, nil, "no box without the four columns")
end)

T.test("every malformed line is an error naming file, line and problem", function()
  for _, case in ipairs(BAD) do
    local text = GOOD .. "\r\n " .. GOOD .. "\r\n " .. case[1] .. "\r\n"
    T.raises(function() return data.parse_annotations(text, "training.txt") end,
             "training.txt:3: ", case[2])
  end
end)

T.test("the error points at the caller's line, not at the library", function()
  local msg = T.raises(function() local a = data.parse_annotations("x 1", "f.txt") return a end, "f.txt:1:")
  T.truthy(msg:find("test_data_annotations%.lua:%d+: f%.txt:1: "), "caller's position in " .. msg)
end)

T.test("skipping counts the bad lines and keeps their messages", function()
  local lines = {GOOD}
  for _, case in ipairs(BAD) do lines[#lines + 1] = case[1] end
  lines[#lines + 1] = GOOD
  local a = data.parse_annotations(table.concat(lines, "\r\n "), "t.txt", {on_error = "skip"})
  T.eq(a.count, 2, "good faces kept")
  T.eq(a.skipped.count, #BAD, "bad lines counted")
  T.truthy(a.skipped[1]:find("t.txt:2: 14 fields", 1, true), a.skipped[1])
  T.raises(function() return data.parse_annotations("", "t", {on_error = "maybe"}) end, "on_error", "maybe")
end)

T.test("a missing file names its path", function()
  T.raises(function() return data.read_annotations("/no/such/training.txt") end,
           "/no/such/training.txt: cannot open")
end)

T.test("the real files: 10,000 training and 2,995 testing faces", function()
  local dir = H.real_data()
  if not dir then return end
  local train = data.read_annotations(dir .. "/training.txt")
  local test = data.read_annotations(dir .. "/testing.txt")
  T.eq(train.count, 10000, "training faces")
  T.eq(test.count, 2995, "testing faces")
  local lfw, net = 0, 0
  for _, f in ipairs(train.faces) do
    if f.path:find("^lfw_5590/") then lfw = lfw + 1 elseif f.path:find("^net_7876/") then net = net + 1 end
  end
  T.eq(lfw, 4151, "LFW")
  T.eq(net, 5849, "net")
  T.eq(test.faces[1].path, "AFLW/0001-image20056.jpg", "first test face")
end)

T.run_all()
