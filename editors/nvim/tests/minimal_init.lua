-- Headless test setup: this plugin only, the real server, a model with known answers.
local root = vim.fn.fnamemodify(debug.getinfo(1, "S").source:sub(2), ":p:h:h")
vim.opt.runtimepath:prepend(root)
vim.opt.swapfile = false
vim.opt.shadafile = "NONE"
vim.cmd("filetype on")
vim.cmd("runtime plugin/dllm.lua")

require("dllm").setup({
  cmd = { (assert(os.getenv("DLLM_LS"), "set DLLM_LS to the dllm-ls binary")) },
  settings = {
    model = (assert(os.getenv("DLLM_MODEL"), "set DLLM_MODEL to a checkpoint directory")),
    maxTokensBlock = 6,
    maxTokensInline = 6,
    steps = 8,
  },
  ghost_text = { debounce_ms = 0 },
  next_edit = { debounce_ms = 100 },
})
