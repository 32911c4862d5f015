-- dllm-ls for Neovim: starts and attaches the language server, adds ghost-text and next-edit
-- suggestions and the :DllmRewrite / :DllmFillHoles / :DllmComplete commands. Its code actions
-- (Fill holes, Complete this block, Rewrite selection, Rename here) appear in
-- vim.lsp.buf.code_action().
local config = require("dllm.config")
local client_mod = require("dllm.client")
local ghost = require("dllm.ghost")
local next_edit = require("dllm.next_edit")

local M = {}

local function uri()
  return vim.uri_from_bufnr(0)
end

local function position()
  local client = client_mod.get()
  return vim.lsp.util.make_position_params(0, client and client.offset_encoding).position
end

--- Runs a dllm.* command asynchronously; the server applies its edit with workspace/applyEdit.
function M.execute(command, argument, on_done)
  local client = client_mod.get()
  if not client then
    vim.notify("dllm: the server is not running in this buffer", vim.log.levels.WARN)
    return
  end
  client.request("workspace/executeCommand", { command = command, arguments = { argument } }, function(err, result)
    if err then
      vim.notify("dllm: " .. err.message, vim.log.levels.ERROR)
    elseif result and result.notes and #result.notes > 0 then
      vim.notify("dllm: " .. table.concat(result.notes, "; "), vim.log.levels.INFO)
    end
    if on_done then
      on_done(err, result)
    end
  end, 0)
end

--- :DllmRewrite [instruction] on the last visual selection (or the given line range).
function M.rewrite(instruction, line1, line2, on_done)
  local client = client_mod.get()
  local encoding = client and client.offset_encoding or "utf-16"
  local start_pos, end_pos = vim.fn.getpos("'<"), vim.fn.getpos("'>")
  local range
  if line1 and line2 and (start_pos[2] ~= line1 or end_pos[2] ~= line2) then
    -- A plain line range (:%DllmRewrite, :3,5DllmRewrite): whole lines.
    range = vim.lsp.util.make_given_range_params({ line1, 0 }, { line2, #vim.fn.getline(line2) }, 0, encoding).range
  else
    local last = vim.fn.getline(end_pos[2])
    range = vim.lsp.util.make_given_range_params(
      { start_pos[2], start_pos[3] - 1 },
      { end_pos[2], math.min(end_pos[3], #last) - 1 },
      0,
      encoding
    ).range
  end
  local arg = { uri = uri(), range = range }
  if instruction and instruction ~= "" then
    arg.instruction = instruction
  end
  M.execute("dllm.rewrite", arg, on_done)
end

function M.fill_holes(on_done)
  M.execute("dllm.fillHoles", { uri = uri(), position = position() }, on_done)
end

function M.complete_block(on_done)
  M.execute("dllm.completeBlock", { uri = uri(), position = position() }, on_done)
end

function M.setup(opts)
  config.set(opts)
  local group = vim.api.nvim_create_augroup("dllm", { clear = true })
  vim.api.nvim_create_autocmd("FileType", {
    group = group,
    pattern = config.options.filetypes,
    callback = function(args)
      if client_mod.attach(args.buf) then
        ghost.setup(args.buf)
        next_edit.setup(args.buf)
      end
    end,
  })
  -- Buffers already open when setup() runs.
  for _, buf in ipairs(vim.api.nvim_list_bufs()) do
    if vim.api.nvim_buf_is_loaded(buf) and vim.tbl_contains(config.options.filetypes, vim.bo[buf].filetype) then
      if client_mod.attach(buf) then
        ghost.setup(buf)
        next_edit.setup(buf)
      end
    end
  end
end

M.restart = client_mod.restart
M.suggest = ghost.request
M.accept = ghost.accept
M.next_edit = next_edit.request
M.accept_next_edit = next_edit.accept
M.dismiss_next_edit = next_edit.clear

return M
