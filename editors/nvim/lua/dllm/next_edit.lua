-- Next-edit suggestions (`dllm/nextEdit`): after a pause in editing, the server may propose the
-- edit that follows the one just made (the same rename at the next use, ...). It is drawn with
-- extmarks where it will apply, the old text struck through and the new text beside it, and
-- accepted with a key. A suggestion is for one document version: any change drops it, and its
-- version is checked when it arrives and again when it is accepted. Neovim 0.7 APIs only.
local config = require("dllm.config")
local client_mod = require("dllm.client")

local M = {
  ns = vim.api.nvim_create_namespace("dllm_next_edit"),
  --- The suggestion shown: { bufnr, edit = the server's answer }.
  current = nil,
  --- Requests sent so far (the tests count them).
  requests = 0,
  --- Counts changes: an answer to a request made before the last change is stale.
  tick = 0,
  timer = nil,
  attached = {},
}

local function define_highlights()
  -- `default`: a colour scheme's own definition wins.
  vim.api.nvim_set_hl(0, "DllmNextEditDelete", { strikethrough = true, fg = "#d75f5f", ctermfg = 167, default = true })
  vim.api.nvim_set_hl(0, "DllmNextEditInsert", { fg = "#87af5f", ctermfg = 107, bold = true, default = true })
  vim.api.nvim_set_hl(0, "DllmNextEditHint", { link = "Comment", default = true })
end

--- The buffer's version as Neovim's LSP client last sent it.
local function version(bufnr)
  local versions = vim.lsp.util.buf_versions
  return (versions and versions[bufnr]) or vim.api.nvim_buf_get_changedtick(bufnr)
end

local function encoding()
  local client = client_mod.get()
  return client and client.offset_encoding or "utf-16"
end

--- An LSP position's byte column on its line.
local function byte_col(bufnr, pos)
  local line = vim.api.nvim_buf_get_lines(bufnr, pos.line, pos.line + 1, false)[1] or ""
  if encoding() == "utf-8" then
    return math.min(pos.character, #line)
  end
  local ok, col = pcall(vim.str_byteindex, line, pos.character, encoding() == "utf-16")
  return ok and col or #line
end

function M.clear()
  local cur = M.current
  M.current = nil
  if cur and vim.api.nvim_buf_is_valid(cur.bufnr) then
    vim.api.nvim_buf_clear_namespace(cur.bufnr, M.ns, 0, -1)
  end
end

--- Draws `edit` in `bufnr`: the replaced text struck through, the new text after it.
local function show(bufnr, edit)
  M.clear()
  local range = edit.range
  local start_col = byte_col(bufnr, range.start)
  local end_col = byte_col(bufnr, range["end"])
  if range.start.line ~= range["end"].line or start_col ~= end_col then
    vim.api.nvim_buf_set_extmark(bufnr, M.ns, range.start.line, start_col, {
      end_row = range["end"].line,
      end_col = end_col,
      hl_group = "DllmNextEditDelete",
    })
  end
  local lines = vim.split(edit.newText, "\n", { plain = true })
  local hint = { "  " .. (edit.label ~= "" and edit.label or "next edit") .. " (" .. config.options.next_edit.accept_key .. ")", "DllmNextEditHint" }
  local opts = { hl_mode = "combine" }
  if vim.fn.has("nvim-0.10") == 1 then
    -- Beside the old text, inline; the hint at the end of the line.
    opts.virt_text = { { lines[1], "DllmNextEditInsert" } }
    opts.virt_text_pos = "inline"
    vim.api.nvim_buf_set_extmark(bufnr, M.ns, range["end"].line, 0, { virt_text = { hint }, virt_text_pos = "eol" })
  else
    opts.virt_text = { { "→ " .. lines[1], "DllmNextEditInsert" }, hint }
    opts.virt_text_pos = "eol"
  end
  if #lines > 1 then
    opts.virt_lines = {}
    for i = 2, #lines do
      table.insert(opts.virt_lines, { { lines[i], "DllmNextEditInsert" } })
    end
  end
  vim.api.nvim_buf_set_extmark(bufnr, M.ns, range["end"].line, end_col, opts)
  M.current = { bufnr = bufnr, edit = edit }
end

--- The server's answer to the request made at change `tick`: shown if nothing changed since and
--- it is for the buffer's current version. Returns whether it is shown.
function M.handle(bufnr, tick, result)
  if tick ~= M.tick or type(result) ~= "table" or type(result.newText) ~= "string" or not result.range then
    return false
  end
  if not vim.api.nvim_buf_is_valid(bufnr) or result.version ~= version(bufnr) then
    return false
  end
  show(bufnr, result)
  return true
end

--- Asks for a next edit at the cursor of the current window (its buffer must be `bufnr`).
function M.request(bufnr)
  local client = client_mod.get()
  bufnr = bufnr or vim.api.nvim_get_current_buf()
  if not client or bufnr ~= vim.api.nvim_get_current_buf() then
    return
  end
  local tick = M.tick
  local params = vim.lsp.util.make_position_params(0, client.offset_encoding)
  M.requests = M.requests + 1
  client.request("dllm/nextEdit", { textDocument = params.textDocument, position = params.position }, function(err, result)
    if not err then
      M.handle(bufnr, tick, result)
    end
  end, bufnr)
end

--- Applies the suggestion through Neovim's edit API (one undo step) and puts the cursor at the
--- end of the new text. False when there is none or the buffer changed since it was made.
function M.accept()
  local cur = M.current
  if not cur then
    return false
  end
  M.clear()
  local edit = cur.edit
  if not vim.api.nvim_buf_is_valid(cur.bufnr) or version(cur.bufnr) ~= edit.version then
    return false
  end
  local start_col = byte_col(cur.bufnr, edit.range.start)
  vim.lsp.util.apply_text_edits({ { range = edit.range, newText = edit.newText } }, cur.bufnr, encoding())
  local lines = vim.split(edit.newText, "\n", { plain = true })
  local row = edit.range.start.line + #lines -- 1-based: the last line of the new text
  local col = #lines == 1 and (start_col + #lines[1]) or #lines[#lines]
  if vim.api.nvim_win_get_buf(0) == cur.bufnr then
    pcall(vim.api.nvim_win_set_cursor, 0, { row, col })
  end
  return true
end

--- A change in `bufnr`: drop its suggestion and ask again after the pause.
local function changed(bufnr)
  M.tick = M.tick + 1
  if M.current and M.current.bufnr == bufnr then
    M.clear()
  end
  local opts = config.options.next_edit
  if not M.timer then
    M.timer = vim.loop.new_timer()
  end
  M.timer:stop()
  M.timer:start(math.max(0, opts.debounce_ms), 0, vim.schedule_wrap(function()
    M.request(bufnr)
  end))
end

function M.setup(bufnr)
  local opts = config.options.next_edit
  if not opts.enabled or M.attached[bufnr] then
    return
  end
  define_highlights()
  M.attached[bufnr] = true
  -- on_lines sees every change (typing, undo, an accepted edit, a server's workspace edit).
  vim.api.nvim_buf_attach(bufnr, false, {
    on_lines = function()
      if not M.attached[bufnr] then
        return true -- detach
      end
      -- Buffers may not be changed from on_lines; the extmarks go right after it.
      vim.schedule(function()
        changed(bufnr)
      end)
    end,
    on_detach = function()
      M.attached[bufnr] = nil
    end,
  })
  for _, mode in ipairs({ "n", "i" }) do
    vim.keymap.set(mode, opts.accept_key, function()
      if not M.accept() then
        vim.api.nvim_feedkeys(vim.api.nvim_replace_termcodes(opts.accept_key, true, false, true), "n", false)
      end
    end, { buffer = bufnr, desc = "dllm: accept the next edit" })
    vim.keymap.set(mode, opts.dismiss_key, M.clear, { buffer = bufnr, desc = "dllm: dismiss the next edit" })
  end
end

return M
