-- mtfl.commands: the project's user-facing scripts as commands, and the words that run
-- one from any folder.
--
-- `cmake --install` copies those scripts into share/mtfl-lua/ and puts beside mtfl-lua
-- in bin/ one small wrapper per script, named mtfl-<script's name> (scripts/evaluate.lua
-- -> mtfl-evaluate, examples/quickstart.lua -> mtfl-quickstart), that runs the
-- installed copy with the mtfl-lua beside it and sets MTFL_COMMAND to its own name.
--
--   commands.shell("scripts/evaluate.lua", arg[0])
--     -> "mtfl-evaluate"                                  installed, and first on PATH
--     -> "/opt/mtfl/bin/mtfl-evaluate"                    installed, not on PATH
--     -> "/src/mtfl-lua/build/mtfl-lua /src/mtfl-lua/scripts/evaluate.lua"   a checkout
local files = require "mtfl.files"

local M = {}

--- name(script) -> the command a script is installed as: "mtfl-" and its file name
--- without .lua or .sh ("scripts/export-onnx.lua" -> "mtfl-export-onnx").
function M.name(script)
  local stem = tostring(script):match("([^/]+)$"):gsub("%.lua$", ""):gsub("%.sh$", "")
  return "mtfl-" .. stem
end

--- usage_name(script) -> what the script's --help calls it: its command when the
--- command's wrapper started it (MTFL_COMMAND), else "mtfl-lua <script>".
function M.usage_name(script)
  local command = os.getenv("MTFL_COMMAND")
  if command and command == M.name(script) then return command end
  return "mtfl-lua " .. tostring(script)
end

--- word(s) -> s as one word of a shell command: as it is when it holds only characters
--- the shell leaves alone (most paths), else quoted.
function M.word(s)
  s = tostring(s)
  if s:match("^[%w/%._+,:=@%-]+$") then return s end
  return files.shell_quote(s)
end

--- path(p) -> the existing file or folder p as a shell word that means it from any
--- folder: absolute, without symbolic links.
function M.path(p) return M.word(files.real_path(p)) end

-- The real path of what PATH finds first as `name`, or nil.
local function on_path(name)
  for dir in (os.getenv("PATH") or ""):gmatch("[^:]+") do
    local candidate = dir .. "/" .. name
    if files.kind(candidate) == "file" then
      local ok, real = pcall(files.real_path, candidate)
      return ok and real or nil
    end
  end
end

--- shell(script, running) -> shell words that run the project's script (a path from the
--- tree's root, "scripts/evaluate.lua") from any folder; running is the path of the
--- script that asks (arg[0]), which tells where the tree is. The installed command
--- beside this interpreter when there is one (by its bare name when PATH finds that
--- very file), else this interpreter and the script, both absolute. A running script
--- whose tree cannot be found gets "mtfl-lua <script>", the documented form.
function M.shell(script, running)
  local ok, interpreter = pcall(files.real_path, "/proc/self/exe")
  if not ok then return "mtfl-lua " .. script end
  local command = files.dirname(interpreter) .. "/" .. M.name(script)
  if files.kind(command) == "file" then
    return on_path(M.name(script)) == command and M.name(script) or M.word(command)
  end
  -- a checkout: the running script is <root>/examples/x.lua or <root>/scripts/x.lua
  local found, real = pcall(files.real_path, tostring(running))
  local path = found and files.dirname(files.dirname(real)) .. "/" .. script
  if not path or files.kind(path) ~= "file" then return "mtfl-lua " .. script end
  return M.word(interpreter) .. " " .. M.word(path)
end

--- next_steps(model, running [, test]) -> the lines that tell a user what to do with
--- a trained model file: measure it on test = {list =, after_line =} (an annotation file
--- and the line its test faces follow; left out without one), annotate their own
--- images, export it as ONNX. Every command runs from any folder: the paths are
--- absolute, the commands installed ones or absolute (see shell).
function M.next_steps(model, running, test)
  local m = M.path(model)
  local lines = {}
  if test and test.list then
    lines[#lines + 1] = string.format("  measure it on the test faces:   %s %s %s%s", M.shell("scripts/evaluate.lua", running), m,
                                      M.path(test.list), test.after_line and " --after-line " .. test.after_line or "")
  end
  lines[#lines + 1] = string.format("  annotate your own face images:  %s %s IMAGE_OR_FOLDER... --out out/predict",
                                    M.shell("scripts/predict.lua", running), m)
  lines[#lines + 1] = string.format("  use it in other runtimes:       %s %s %s", M.shell("scripts/export-onnx.lua", running), m,
                                    M.word(files.dirname(files.real_path(model)) .. "/model.onnx"))
  return lines
end

return M
