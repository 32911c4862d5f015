-- Commands of dllm-ls. require("dllm").setup{...} starts the server for the configured filetypes.
if vim.g.loaded_dllm then
  return
end
vim.g.loaded_dllm = true

vim.api.nvim_create_user_command("DllmRewrite", function(args)
  require("dllm").rewrite(args.args, args.line1, args.line2)
end, { nargs = "*", range = true, desc = "dllm: rewrite the selection, with an optional instruction" })

vim.api.nvim_create_user_command("DllmFillHoles", function()
  require("dllm").fill_holes()
end, { desc = "dllm: fill every hole of the function at the cursor" })

vim.api.nvim_create_user_command("DllmComplete", function()
  require("dllm").complete_block()
end, { desc = "dllm: complete the block at the cursor" })

vim.api.nvim_create_user_command("DllmNextEdit", function()
  require("dllm").next_edit()
end, { desc = "dllm: suggest the next edit now (it also comes by itself after a pause in editing)" })

vim.api.nvim_create_user_command("DllmRestart", function()
  require("dllm").restart()
end, { desc = "dllm: restart the language server" })
