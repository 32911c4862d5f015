-- :checkhealth dllm
local config = require("dllm.config")
local client_mod = require("dllm.client")

local M = {}

-- Neovim 0.10 renamed the health functions.
local h = vim.health or require("health")
local start = h.start or h.report_start
local ok = h.ok or h.report_ok
local warn = h.warn or h.report_warn
local error = h.error or h.report_error
local info = h.info or h.report_info

function M.check()
  start("dllm-ls")
  local bin = config.options.cmd[1]
  if vim.fn.executable(bin) == 1 then
    ok("server binary: " .. vim.fn.exepath(bin))
    local version = vim.fn.system({ bin, "--version" })
    if vim.v.shell_error == 0 then
      ok("version: " .. vim.trim(version))
    else
      error("`" .. bin .. " --version` failed: " .. version)
    end
  else
    error("server binary '" .. bin .. "' not found", { "cargo install --path server (in the dllm-ls repository)", "or set cmd in require('dllm').setup{}" })
    return
  end
  local client = client_mod.get()
  if not client then
    warn("the server is not running (open a file of a configured filetype)")
  else
    local status, err = client_mod.execute("dllm.status", {}, 5000)
    if not status then
      error("dllm.status failed: " .. tostring(err))
    elseif status.state == "ready" then
      ok("model loaded: " .. (status.model or "") .. (status.residentMb and (", weights " .. status.residentMb .. " MB in memory") or ""))
    elseif status.state == "failed" then
      error("model failed to load: " .. (status.error or ""))
    else
      warn(M.status_text(status))
    end
    if status and status.nextEdit ~= nil then
      info(M.next_edit_text(status.nextEdit))
    end
  end
  info("languages (parsers are built into the server): " .. table.concat(config.options.filetypes, ", "))
  if vim.lsp.inline_completion then
    ok("ghost text: native vim.lsp.inline_completion")
  else
    info("ghost text: drawn with extmarks (Neovim < 0.12); accept with " .. config.options.ghost_text.accept_key)
  end
end

--- Whether the server answers dllm/nextEdit (dllm.status's nextEdit), and the keys.
function M.next_edit_text(on)
  local keys = config.options.next_edit
  if not on then
    return "next edits: off (the server setting nextEditSuggestions)"
  end
  if not keys.enabled then
    return "next edits: on in the server, off in the plugin (next_edit.enabled)"
  end
  return "next edits: on; accept with " .. keys.accept_key .. ", dismiss with " .. keys.dismiss_key
end

--- "model loading: owner/name (downloading model.safetensors: 120 of 1261 MB, 9%)": a status
--- that is neither ready nor failed, with the load's progress once the server reports it.
function M.status_text(status)
  local text = "model " .. status.state .. (status.model and (": " .. status.model) or "")
  if type(status.percent) ~= "number" then
    return text
  end
  local what = "reading the weights"
  if status.phase == "downloading" then
    what = "downloading" .. (status.file and (" " .. status.file) or "")
  end
  return string.format("%s (%s: %d of %d MB, %d%%)", text, what, status.doneMb or 0, status.totalMb or 0, status.percent)
end

return M
