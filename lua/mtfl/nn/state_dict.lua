-- mtfl.nn.state_dict: a model's parameters and buffers by name ("1.weight",
-- "heads.pose.bias", "3.running_mean"), and loading them back with a precise account
-- of anything that does not fit.
local shape = require "mtfl.nn.shape"
local errors = require "mtfl.errors"
local mtfl = require "mtfl"

local M = {}

-- fn(tensor, name) for every parameter, then every buffer
local function each_tensor(model, fn)
  model:each_parameter(function(m, slot, name) fn(m[slot.param], name) end)
  model:each_buffer(function(m, key, name) fn(m[key], name) end)
end

--- {name = tensor}: the model's own tensors (not copies), parameters and buffers.
function M.state_dict(model)
  local tensors = {}
  each_tensor(model, function(t, name) tensors[name] = t end)
  return tensors
end

--- Copies tensors into the model's parameters and buffers (across devices if need be;
--- flattened views stay valid). Nothing is copied unless everything fits: names missing
--- from tensors, names the model does not have, and shape mismatches are all reported
--- in one error. options.strict = false tolerates missing and unexpected names.
function M.load_state_dict(model, tensors, options)
  local strict = not (options and options.strict == false)
  if type(tensors) ~= "table" then
    errors.raisef("load_state_dict: expects a table {name = tensor}, got a %s", type(tensors))
  end
  local targets, order = {}, {}
  each_tensor(model, function(t, name)
    targets[name] = t
    order[#order + 1] = name
  end)
  local missing, unexpected, mismatched = {}, {}, {}
  for _, name in ipairs(order) do
    local given = tensors[name]
    if given == nil then
      missing[#missing + 1] = name
    elseif not mtfl.is_tensor(given) then
      mismatched[#mismatched + 1] = string.format("%s is a %s, not a tensor", name, type(given))
    elseif not shape.equal(given:size(), targets[name]:size()) then
      mismatched[#mismatched + 1] = string.format("%s is %s in the model but %s in the tensors given",
                                                  name, shape.str(targets[name]), shape.str(given))
    end
  end
  for _, name in ipairs(shape.sorted_keys(tensors)) do
    if targets[name] == nil then unexpected[#unexpected + 1] = tostring(name) end
  end
  local problems = {}
  if strict and #missing > 0 then
    problems[#problems + 1] = string.format("%d missing (%s)", #missing, table.concat(missing, ", "))
  end
  if strict and #unexpected > 0 then
    problems[#problems + 1] = string.format("%d unexpected (%s)", #unexpected, table.concat(unexpected, ", "))
  end
  if #mismatched > 0 then
    problems[#problems + 1] = "shape mismatch: " .. table.concat(mismatched, "; ")
  end
  if #problems > 0 then
    errors.raisef("load_state_dict: the tensors do not fit this %s: %s", model:describe(),
                  table.concat(problems, "; "))
  end
  for _, name in ipairs(order) do
    if tensors[name] ~= nil then targets[name]:copy(tensors[name]) end
  end
  return model
end

return M
