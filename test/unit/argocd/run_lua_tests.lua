-- Runs Argo CD resource customizations the way Argo CD's own tests do
-- (resource_customizations/<group>/<kind>/{health_test.yaml, actions/action_test.yaml}), with a
-- plain Lua 5.1 interpreter:
--   lua5.1 run_lua_tests.lua <dir>     e.g. manifests/argocd/resource_customizations/prefect.io/FlowRun
-- Exits 1 when any case fails or a file cannot be read, 0 otherwise. No modules are needed: the
-- fixtures are JSON (valid YAML too, as Argo CD reads them) and the test files use the small
-- YAML subset parsed below.

local dir = arg[1]
if dir == nil then
  io.stderr:write("usage: lua5.1 run_lua_tests.lua <resource customization dir>\n")
  os.exit(2)
end

local failures = 0
local passes = 0

local function fail(name, text)
  failures = failures + 1
  io.stdout:write("FAIL " .. name .. ": " .. text .. "\n")
end

local function pass(name)
  passes = passes + 1
  io.stdout:write("ok   " .. name .. "\n")
end

local function readFile(path)
  local f, err = io.open(path, "r")
  if f == nil then return nil, err end
  local text = f:read("*a")
  f:close()
  return text
end

-- JSON ---------------------------------------------------------------------------------------
-- null becomes nil, as in Argo CD's conversion of objects to Lua tables.
local function decodeJson(text)
  local pos = 1
  local function err(what)
    error(string.format("JSON: %s at offset %d", what, pos), 0)
  end
  local function skip()
    pos = string.find(text, "[^ \t\r\n]", pos) or (#text + 1)
  end
  local value
  local function str()
    pos = pos + 1
    local out = {}
    while true do
      local c = string.sub(text, pos, pos)
      if c == "" then err("unterminated string") end
      if c == '"' then pos = pos + 1; break end
      if c == "\\" then
        local e = string.sub(text, pos + 1, pos + 1)
        local map = {['"'] = '"', ["\\"] = "\\", ["/"] = "/", b = "\b", f = "\f", n = "\n",
                     r = "\r", t = "\t"}
        if map[e] then
          out[#out + 1] = map[e]; pos = pos + 2
        elseif e == "u" then
          local code = tonumber(string.sub(text, pos + 2, pos + 5), 16)
          if code == nil then err("bad \\u escape") end
          if code < 0x80 then
            out[#out + 1] = string.char(code)
          elseif code < 0x800 then
            out[#out + 1] = string.char(0xC0 + math.floor(code / 64), 0x80 + code % 64)
          else
            out[#out + 1] = string.char(0xE0 + math.floor(code / 4096),
                                        0x80 + math.floor(code / 64) % 64, 0x80 + code % 64)
          end
          pos = pos + 6
        else
          err("bad escape")
        end
      else
        out[#out + 1] = c; pos = pos + 1
      end
    end
    return table.concat(out)
  end
  value = function()
    skip()
    local c = string.sub(text, pos, pos)
    if c == "{" then
      pos = pos + 1
      local obj = {}
      skip()
      if string.sub(text, pos, pos) == "}" then pos = pos + 1; return obj end
      while true do
        skip()
        if string.sub(text, pos, pos) ~= '"' then err("expected a key") end
        local k = str()
        skip()
        if string.sub(text, pos, pos) ~= ":" then err("expected ':'") end
        pos = pos + 1
        obj[k] = value()
        skip()
        local d = string.sub(text, pos, pos)
        pos = pos + 1
        if d == "}" then return obj end
        if d ~= "," then err("expected ',' or '}'") end
      end
    elseif c == "[" then
      pos = pos + 1
      local arr = {}
      skip()
      if string.sub(text, pos, pos) == "]" then pos = pos + 1; return arr end
      local n = 0
      while true do
        n = n + 1
        arr[n] = value()
        skip()
        local d = string.sub(text, pos, pos)
        pos = pos + 1
        if d == "]" then return arr end
        if d ~= "," then err("expected ',' or ']'") end
      end
    elseif c == '"' then
      return str()
    elseif string.sub(text, pos, pos + 3) == "true" then
      pos = pos + 4; return true
    elseif string.sub(text, pos, pos + 4) == "false" then
      pos = pos + 5; return false
    elseif string.sub(text, pos, pos + 3) == "null" then
      pos = pos + 4; return nil
    else
      local num = string.match(text, "^-?%d+%.?%d*[eE]?[-+]?%d*", pos)
      if num == nil or num == "" then err("unexpected character '" .. c .. "'") end
      pos = pos + #num
      return tonumber(num)
    end
  end
  local result = value()
  skip()
  if pos <= #text then err("trailing characters") end
  return result
end

-- YAML subset ----------------------------------------------------------------------------------
-- Block mappings and sequences by indentation, `- ` items, comments, and scalars: plain,
-- "double-quoted" (with \" and \\ escapes), 'single-quoted', true/false, integers.
local function scalar(s)
  if string.sub(s, 1, 1) == '"' then
    local inner = string.match(s, '^"(.*)"$')
    if inner == nil then error("YAML: unterminated string " .. s, 0) end
    return (string.gsub(inner, '\\(.)', function(e)
      local map = {n = "\n", t = "\t", ['"'] = '"', ["\\"] = "\\"}
      return map[e] or ("\\" .. e)
    end))
  end
  if string.sub(s, 1, 1) == "'" then
    local inner = string.match(s, "^'(.*)'$")
    if inner == nil then error("YAML: unterminated string " .. s, 0) end
    return (string.gsub(inner, "''", "'"))
  end
  if s == "true" then return true end
  if s == "false" then return false end
  if string.match(s, "^-?%d+$") then return tonumber(s) end
  return s
end

local function parseYaml(text)
  local lines = {}
  for raw in string.gmatch(text .. "\n", "([^\n]*)\n") do
    local body = string.gsub(raw, "%s+$", "")
    if not string.match(body, "^%s*#") and not string.match(body, "^%s*$") then
      local indent = #string.match(body, "^( *)")
      lines[#lines + 1] = {indent = indent, text = string.sub(body, indent + 1)}
    end
  end
  local i = 1
  local parseBlock
  -- Parses "key: value" pairs at `indent` into `map`, starting with the current line.
  local function parseMapping(indent, map, first)
    local text = first
    while true do
      local key, rest = string.match(text, "^([^:]+):%s*(.*)$")
      if key == nil then error("YAML: expected 'key: value' in '" .. text .. "'", 0) end
      i = i + 1
      if rest == "" then
        if i <= #lines and (lines[i].indent > indent or
            (lines[i].indent == indent and string.sub(lines[i].text, 1, 2) == "- ")) then
          map[key] = parseBlock(lines[i].indent)
        else
          map[key] = nil
        end
      else
        map[key] = scalar(rest)
      end
      if i > #lines or lines[i].indent ~= indent or string.sub(lines[i].text, 1, 2) == "- " then
        return map
      end
      text = lines[i].text
    end
  end
  parseBlock = function(indent)
    local line = lines[i]
    if string.sub(line.text, 1, 2) == "- " then
      local list = {}
      while i <= #lines and lines[i].indent == indent and string.sub(lines[i].text, 1, 2) == "- " do
        local itemText = string.sub(lines[i].text, 3)
        local itemIndent = indent + 2
        if string.match(itemText, "^[^:\"']+:") then
          list[#list + 1] = parseMapping(itemIndent, {}, itemText)
        else
          list[#list + 1] = scalar(itemText)
          i = i + 1
        end
      end
      return list
    end
    return parseMapping(indent, {}, line.text)
  end
  if #lines == 0 then return {} end
  return parseBlock(lines[1].indent)
end

-- Comparison -----------------------------------------------------------------------------------
local function show(v)
  if type(v) == "string" then return string.format("%q", v) end
  return tostring(v)
end

-- Returns nil when equal, else the path of the first difference.
local function diff(a, b, path)
  if type(a) ~= "table" or type(b) ~= "table" then
    if a == b then return nil end
    return path .. ": got " .. show(a) .. ", want " .. show(b)
  end
  for k, v in pairs(a) do
    local d = diff(v, b[k], path .. "." .. tostring(k))
    if d then return d end
  end
  for k, v in pairs(b) do
    if a[k] == nil then return path .. "." .. tostring(k) .. ": missing, want " .. show(v) end
  end
  return nil
end

-- Running a script like Argo CD: a fresh environment with `obj` and the basic libraries.
local function runScript(path, object)
  local chunk, err = loadfile(path)
  if chunk == nil then return nil, err end
  local env = {obj = object, pairs = pairs, ipairs = ipairs, tostring = tostring,
               tonumber = tonumber, type = type, next = next, error = error, pcall = pcall,
               string = string, table = table, math = math, os = {time = os.time}}
  setfenv(chunk, env)
  local ok, result = pcall(chunk)
  if not ok then return nil, result end
  return result
end

local function loadFixture(relative)
  local text, err = readFile(dir .. "/" .. relative)
  if text == nil then return nil, err end
  local ok, value = pcall(decodeJson, text)
  if not ok then return nil, relative .. ": " .. value end
  return value
end

local function protect(name, f)
  local ok, err = pcall(f)
  if not ok then fail(name, tostring(err)) end
end

-- health_test.yaml
local healthText = readFile(dir .. "/health_test.yaml")
local healthCases = 0
if healthText ~= nil then
  protect("health_test.yaml", function()
    local spec = parseYaml(healthText)
    for n, case in ipairs(spec.tests or {}) do
      healthCases = healthCases + 1
      local name = "health " .. n .. " " .. tostring(case.inputPath)
      local object, err = loadFixture(case.inputPath)
      if object == nil then
        fail(name, err)
      else
        local hs, runErr = runScript(dir .. "/health.lua", object)
        if hs == nil then
          fail(name, "health.lua: " .. tostring(runErr))
        else
          local want = case.healthStatus or {}
          local d = nil
          if hs.status ~= want.status then
            d = "status: got " .. show(hs.status) .. ", want " .. show(want.status)
          elseif want.message ~= nil and hs.message ~= want.message then
            d = "message: got " .. show(hs.message) .. ", want " .. show(want.message)
          end
          if d then fail(name, d) else pass(name) end
        end
      end
    end
  end)
end

-- actions/action_test.yaml
local actionText = readFile(dir .. "/actions/action_test.yaml")
local actionCases = 0
if actionText ~= nil then
  protect("action_test.yaml", function()
    local spec = parseYaml(actionText)
    for n, case in ipairs(spec.discoveryTests or {}) do
      actionCases = actionCases + 1
      local name = "discovery " .. n .. " " .. tostring(case.inputPath)
      local object, err = loadFixture(case.inputPath)
      if object == nil then
        fail(name, err)
      else
        local actions, runErr = runScript(dir .. "/actions/discovery.lua", object)
        if type(actions) ~= "table" then
          fail(name, "discovery.lua: " .. tostring(runErr or "did not return a table"))
        else
          local problem = nil
          local expected = {}
          for _, want in ipairs(case.result or {}) do
            expected[want.name] = true
            local got = actions[want.name]
            if got == nil then
              problem = "action " .. want.name .. " is missing"
            elseif (got.disabled == true) ~= (want.disabled == true) then
              problem = "action " .. want.name .. ": disabled " .. show(got.disabled) ..
                  ", want " .. show(want.disabled)
            end
          end
          for actionName in pairs(actions) do
            if not expected[actionName] then problem = "unexpected action " .. actionName end
          end
          if problem then fail(name, problem) else pass(name) end
        end
      end
    end
    for n, case in ipairs(spec.actionTests or {}) do
      actionCases = actionCases + 1
      local name = "action " .. tostring(case.action) .. " " .. n .. " " .. tostring(case.inputPath)
      local object, err = loadFixture(case.inputPath)
      local expected, err2 = loadFixture(case.expectedOutputPath)
      if object == nil or expected == nil then
        fail(name, tostring(err or err2))
      else
        local out, runErr = runScript(dir .. "/actions/" .. case.action .. "/action.lua", object)
        if type(out) ~= "table" then
          fail(name, "action.lua: " .. tostring(runErr or "did not return the object"))
        else
          local d = diff(out, expected, "obj")
          if d then fail(name, d) else pass(name) end
        end
      end
    end
  end)
end

if healthCases + actionCases == 0 and failures == 0 then
  fail(dir, "no health_test.yaml or actions/action_test.yaml cases found")
end
io.stdout:write(string.format("%d passed, %d failed\n", passes, failures))
if failures > 0 then os.exit(1) end
os.exit(0)
