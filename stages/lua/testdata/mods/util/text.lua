-- a module a stage can require when it lists testdata/mods in modules:
local M = {}
function M.shout(s) return string.upper(s) .. "!" end
return M
