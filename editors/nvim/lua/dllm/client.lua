-- Starting the server and attaching buffers, on Neovim 0.7 (vim.lsp.start_client) and later.
local config = require("dllm.config")

local M = { client_id = nil }

function M.get()
  if M.client_id then
    local client = vim.lsp.get_client_by_id(M.client_id)
    if client and not client.is_stopped() then
      return client
    end
  end
  return nil
end

local function root_dir(bufnr)
  local name = vim.api.nvim_buf_get_name(bufnr)
  local dir = name ~= "" and vim.fn.fnamemodify(name, ":p:h") or vim.fn.getcwd()
  local git = vim.fn.finddir(".git", dir .. ";")
  return git ~= "" and vim.fn.fnamemodify(git, ":p:h:h") or dir
end

--- Starts the server once and attaches `bufnr` to it.
function M.attach(bufnr)
  bufnr = bufnr or vim.api.nvim_get_current_buf()
  local opts = config.options
  if vim.fn.executable(opts.cmd[1]) ~= 1 then
    vim.notify_once(
      "dllm: server binary '" .. opts.cmd[1] .. "' not found; build it with `cargo install --path server` "
        .. "in the dllm-ls repository, or set cmd in require('dllm').setup{}",
      vim.log.levels.ERROR
    )
    return nil
  end
  local client = M.get()
  if not client then
    M.client_id = vim.lsp.start_client({
      name = "dllm-ls",
      cmd = opts.cmd,
      root_dir = root_dir(bufnr),
      init_options = opts.settings,
      settings = { dllm = opts.settings },
      on_exit = function()
        M.client_id = nil
      end,
    })
  end
  if M.client_id then
    vim.lsp.buf_attach_client(bufnr, M.client_id)
  end
  return M.client_id
end

function M.restart()
  local client = M.get()
  if client then
    client.stop()
  end
  M.client_id = nil
  vim.defer_fn(function()
    for _, buf in ipairs(vim.api.nvim_list_bufs()) do
      if vim.api.nvim_buf_is_loaded(buf) and vim.tbl_contains(config.options.filetypes, vim.bo[buf].filetype) then
        M.attach(buf)
      end
    end
  end, 100)
end

--- Synchronous workspace/executeCommand, for commands and health checks.
function M.execute(command, arguments, timeout_ms)
  local client = M.get()
  if not client then
    return nil, "dllm-ls is not running"
  end
  local resp = client.request_sync("workspace/executeCommand", { command = command, arguments = arguments }, timeout_ms or 60000, 0)
  if not resp then
    return nil, "no answer from dllm-ls"
  end
  if resp.err then
    return nil, resp.err.message
  end
  return resp.result
end

return M
