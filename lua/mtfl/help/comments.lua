-- mtfl.help.comments: the `---` comments of one file of the library, read from its text:
-- its header (the comment it starts with), its blocks by the definition below them
-- ("Linear:forward", "M.load"), the blocks that name themselves (core_docs.lua), the
-- locals that hold classes, and the local it returns.
local M = {}

function M.lines_of(text)
  local lines = {}
  for line in (text .. "\n"):gmatch("([^\n]*)\r?\n") do lines[#lines + 1] = line end
  return lines
end

-- What one file documents: its header (the comment it starts with), its blocks of `---`
-- lines by the definition below them ("Linear:forward", "M.load"), the blocks that name
-- themselves (C functions), the locals that hold classes, and the local it returns.
--- parse(text) -> {header, blocks, named, classes, returned}
function M.parse(text)
  local lines = M.lines_of(text)
  local file = {header = {}, blocks = {}, named = {}, classes = {}}
  local i = 1
  while lines[i] and lines[i]:match("^%-%-") and not lines[i]:match("^%-%-%-") do
    file.header[#file.header + 1] = lines[i]:gsub("^%-%- ?", "")
    i = i + 1
  end
  for n, line in ipairs(lines) do
    local var, name = line:match("^local%s+([%w_]+)%s*=%s*class%(%s*\"([%w_]+)\"")
    if var then file.classes[var] = name end
    file.returned = line:match("^return%s+([%w_]+)%s*$") or file.returned
    if line:match("^%s*%-%-%-") and not (lines[n - 1] or ""):match("^%s*%-%-%-") then
      local doc, k = {}, n
      while lines[k] and lines[k]:match("^%s*%-%-%-") do
        doc[#doc + 1] = lines[k]:gsub("^%s*%-%-%- ?", "")
        k = k + 1
      end
      while lines[k] and lines[k]:match("^%s*$") do k = k + 1 end
      local def = lines[k] or ""
      local owner, sep, member, args = def:match("^%s*function%s+([%w_]+)([.:])([%w_]+)%s*(%b())")
      if not owner then
        owner, member, args = def:match("^%s*([%w_]+)%.([%w_]+)%s*=%s*function%s*(%b())")
        sep = "."
      end
      local block = {doc = doc, args = args}
      -- a module that returns one function: "local function new(...)" ... "return new",
      -- or "return function(...)" itself
      local fn_name, fn_args = def:match("^local%s+function%s+([%w_]+)%s*(%b())")
      if not owner and not fn_name then
        fn_args = def:match("^return%s+function%s*(%b())")
        fn_name = fn_args and "<returned>"
      end
      if owner then
        file.blocks[owner .. sep .. member] = block
      elseif fn_name then
        file.blocks[fn_name] = {doc = doc, args = fn_args}
      elseif not def:match("^%s*local%s") then
        -- blocks that name what they document, one after the other (core_docs.lua): a line
        -- "mtfl.matmul(a, b [, options]) -> ..." starts one, the lines below it belong to it
        local current
        for j, line in ipairs(doc) do
          local named, args, rest = line:match("^([%w_]+[.:][%w_]+)(%b())%s*(.*)$")
          if not named and j == 1 then named, rest = line:match("^(Tensor):%s*(.*)$") end
          if named then
            rest = rest:gsub("^:%s*", "")
            current = {doc = {rest ~= "" and rest or nil}, args = args}
            file.named[named] = current
          elseif current then
            current.doc[#current.doc + 1] = line
          end
        end
      end
    end
  end
  return file
end

function M.text_of(doc) return table.concat(doc or {}, "\n") end

return M
