-- Inline suggestions as ghost text. Neovim 0.12+ has vim.lsp.inline_completion and gets it
-- natively; older versions (Debian ships 0.7) draw the suggestion with an extmark, accepted with
-- a key and dismissed when the cursor moves or the text changes.
local config = require("dllm.config")
local client_mod = require("dllm.client")

local M = { ns = vim.api.nvim_create_namespace("dllm_ghost"), current = nil, timer = nil, tick = 0 }

function M.clear(bufnr)
  bufnr = bufnr or vim.api.nvim_get_current_buf()
  vim.api.nvim_buf_clear_namespace(bufnr, M.ns, 0, -1)
  M.current = nil
end

local function show(bufnr, item, line)
  M.clear(bufnr)
  local text = item.insertText
  if type(text) == "table" then
    text = text.value
  end
  if not text or text == "" then
    return
  end
  local lines = vim.split(text, "\n", { plain = true })
  local col = item.range and item.range.start.character or vim.api.nvim_win_get_cursor(0)[2]
  local line_text = vim.api.nvim_buf_get_lines(bufnr, line, line + 1, false)[1] or ""
  local hl = config.options.ghost_text.hl_group
  local opts = { virt_text = { { lines[1], hl } }, hl_mode = "combine" }
  -- Inline virtual text needs Neovim 0.10; before that, overlay at the end of the line.
  if vim.fn.has("nvim-0.10") == 1 then
    opts.virt_text_pos = "inline"
  elseif #line_text <= col then
    opts.virt_text_pos = "overlay"
  else
    opts.virt_text_pos = "eol"
  end
  if #lines > 1 then
    local rest = {}
    for i = 2, #lines do
      table.insert(rest, { { lines[i], hl } })
    end
    opts.virt_lines = rest
  end
  vim.api.nvim_buf_set_extmark(bufnr, M.ns, line, math.min(col, #line_text), opts)
  M.current = { bufnr = bufnr, item = item, text = text, line = line }
end

--- Asks the server for a suggestion at the cursor; `done(item)` is called when it is shown.
function M.request(done)
  local client = client_mod.get()
  local bufnr = vim.api.nvim_get_current_buf()
  if not client then
    return
  end
  M.tick = M.tick + 1
  local tick = M.tick
  local params = vim.lsp.util.make_position_params(0, client.offset_encoding)
  params.context = { triggerKind = 1 }
  local line = params.position.line
  client.request("textDocument/inlineCompletion", params, function(err, result)
    if err or tick ~= M.tick then
      return
    end
    local items = result and (result.items or result) or {}
    if items[1] then
      show(bufnr, items[1], line)
      if done then
        done(items[1])
      end
    end
  end, bufnr)
end

--- Inserts the shown suggestion: it replaces its range (the rest of the line) with its text.
function M.accept()
  local cur = M.current
  if not cur then
    return false
  end
  local client = client_mod.get()
  local item = cur.item
  local range = item.range
  if not range then
    local pos = vim.lsp.util.make_position_params(0, client and client.offset_encoding).position
    range = { start = pos, ["end"] = pos }
  end
  M.clear(cur.bufnr)
  vim.lsp.util.apply_text_edits({ { range = range, newText = cur.text } }, cur.bufnr, client and client.offset_encoding or "utf-16")
  -- Put the cursor after the inserted text.
  local lines = vim.split(cur.text, "\n", { plain = true })
  local row = range.start.line + #lines
  local last = vim.api.nvim_buf_get_lines(cur.bufnr, row - 1, row, false)[1] or ""
  local col = #lines == 1 and (vim.str_byteindex(last, range.start.character, true) + #lines[1]) or #lines[#lines]
  pcall(vim.api.nvim_win_set_cursor, 0, { row, col })
  return true
end

local function schedule_request()
  local delay = config.options.ghost_text.debounce_ms
  if delay <= 0 then
    return
  end
  if M.timer then
    M.timer:stop()
  end
  M.timer = vim.defer_fn(function()
    if vim.fn.mode() == "i" then
      M.request()
    end
  end, delay)
end

function M.setup(bufnr)
  local opts = config.options.ghost_text
  if not opts.enabled then
    return
  end
  if vim.lsp.inline_completion and vim.lsp.inline_completion.enable then
    vim.lsp.inline_completion.enable(true, { bufnr = bufnr })
    return
  end
  local group = vim.api.nvim_create_augroup("dllm_ghost_" .. bufnr, { clear = true })
  vim.api.nvim_create_autocmd({ "TextChangedI" }, {
    group = group,
    buffer = bufnr,
    callback = function()
      M.clear(bufnr)
      schedule_request()
    end,
  })
  vim.api.nvim_create_autocmd({ "CursorMovedI", "InsertLeave", "BufLeave" }, {
    group = group,
    buffer = bufnr,
    callback = function()
      if M.current and M.current.line ~= vim.api.nvim_win_get_cursor(0)[1] - 1 then
        M.clear(bufnr)
      elseif vim.fn.mode() ~= "i" then
        M.clear(bufnr)
      end
    end,
  })
  vim.keymap.set("i", opts.accept_key, function()
    if not M.accept() then
      -- No suggestion: the key does what it does without the plugin.
      vim.api.nvim_feedkeys(vim.api.nvim_replace_termcodes(opts.accept_key, true, false, true), "n", false)
    end
  end, { buffer = bufnr, desc = "dllm: accept suggestion" })
  vim.keymap.set("i", opts.request_key, function()
    M.request()
  end, { buffer = bufnr, desc = "dllm: suggest here" })
end

return M
