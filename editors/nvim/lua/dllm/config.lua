-- Options of the plugin, and the server settings they carry.
local M = {}

M.defaults = {
  -- The server binary: a path, or a name looked up on PATH.
  cmd = { "dllm-ls" },
  -- The server's languages (grammars/src/language.rs); server/tests/settings_table.rs writes this line.
  filetypes = { "rust", "python", "javascript", "javascriptreact", "typescript", "typescriptreact", "go" },
  -- Passed to the server as initializationOptions and on :DllmSettings changes (see the
  -- README's configuration table: model, strategy, steps, threshold, maxTokensInline, ...).
  settings = {},
  ghost_text = {
    enabled = true,
    -- Ask for a suggestion automatically after this many ms without typing (0: only on demand).
    debounce_ms = 300,
    accept_key = "<M-l>",
    request_key = "<M-\\>",
    hl_group = "Comment",
  },
  -- Next-edit suggestions (dllm/nextEdit): after a pause in editing, the edit that follows the
  -- last one, drawn where it applies. The server's nextEditSuggestions = false turns them off too.
  next_edit = {
    enabled = true,
    -- Ask this many ms after the last change (VS Code's dllm.nextEdit.debounceMs).
    debounce_ms = 500,
    accept_key = "<M-n>",
    dismiss_key = "<M-N>",
  },
}

M.options = vim.deepcopy(M.defaults)

function M.set(opts)
  M.options = vim.tbl_deep_extend("force", vim.deepcopy(M.defaults), opts or {})
  return M.options
end

return M
