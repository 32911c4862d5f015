-- Tests of the Neovim plugin through Neovim's own LSP client and the real dllm-ls.
-- The model predicts "a" everywhere, so a 6-token answer is "aaaaaa".
local dllm = require("dllm")
local client_mod = require("dllm.client")
local ghost = require("dllm.ghost")
local next_edit = require("dllm.next_edit")

local results = { passed = 0, failed = 0 }
local tmp = vim.fn.tempname()
vim.fn.mkdir(tmp, "p")

--- Opens a file and waits for the client to attach and, unless `loading` is set, for the model.
local function open(name, text, loading)
  local path = tmp .. "/" .. name
  vim.fn.writefile(vim.split(text, "\n", { plain = true }), path)
  vim.cmd("edit! " .. vim.fn.fnameescape(path))
  assert(vim.wait(10000, function()
    local c = client_mod.get()
    return c ~= nil and vim.lsp.buf_is_attached(0, c.id)
  end, 20), "the client did not attach")
  if loading then
    return path
  end
  assert(vim.wait(30000, function()
    local s = client_mod.execute("dllm.status", {}, 2000)
    return s and s.state == "ready"
  end, 50), "the model did not load")
  return path
end

local function buffer_text()
  return table.concat(vim.api.nvim_buf_get_lines(0, 0, -1, false), "\n")
end

local function wait_for_text(expected)
  local ok = vim.wait(20000, function()
    return buffer_text() == expected
  end, 20)
  assert(ok, "buffer is\n" .. buffer_text() .. "\nexpected\n" .. expected)
end

local function parses_as_rust(text)
  local out = vim.fn.system({ "rustfmt", "--edition", "2021", "--emit", "stdout", "--quiet" }, text)
  return vim.v.shell_error == 0, out
end

local function test(name, fn)
  local ok, err = xpcall(fn, debug.traceback)
  if ok then
    results.passed = results.passed + 1
    print("ok   " .. name)
  else
    results.failed = results.failed + 1
    print("FAIL " .. name .. "\n" .. tostring(err))
  end
  vim.cmd("silent! %bwipeout!")
end

--- Picks the action titled `title` in vim.lsp.buf.code_action's menu, as a user would (the item
--- shape differs across versions); returns the list of offered titles.
local function pick_action(title)
  local offered = {}
  vim.ui.select = function(items, _, on_choice)
    local choice = nil
    for i, item in ipairs(items) do
      local action = item.action or item[2] or item
      table.insert(offered, action.title)
      if action.title == title then
        choice = i
      end
    end
    on_choice(choice and items[choice], choice)
  end
  return offered
end

-- First, while the server's first model load is still running (run.sh makes it slow with the
-- test build's DLLM_TEST_LOAD_DELAY_MS): the resolved action waits for the model and edits.
test("a code action right after opening a file waits for the model and edits", function()
  open("early.rs", "fn e(x: i32) -> i32 {\n    let y = todo!();\n    y + x\n}", true)
  local status
  vim.wait(5000, function()
    status = client_mod.execute("dllm.status", {}, 2000)
    return status and status.state ~= "not_loaded"
  end, 10)
  assert(status and status.state == "loading", "the model must still be loading: " .. vim.inspect(status))
  vim.api.nvim_win_set_cursor(0, { 2, 13 })
  pick_action("Fill holes (dllm)")
  vim.lsp.buf.code_action()
  wait_for_text("fn e(x: i32) -> i32 {\n    let y = aaaaaa;\n    y + x\n}")
end)

test("fill holes through vim.lsp.buf.code_action and codeAction/resolve", function()
  open("holes.rs", "fn g(x: i32) -> i32 {\n    let y = todo!();\n    y + x\n}")
  vim.api.nvim_win_set_cursor(0, { 2, 13 })
  local offered = pick_action("Fill holes (dllm)")
  vim.lsp.buf.code_action()
  wait_for_text("fn g(x: i32) -> i32 {\n    let y = aaaaaa;\n    y + x\n}")
  assert(vim.tbl_contains(offered, "Rename here (dllm)"), "offered: " .. vim.inspect(offered))
  local parses, out = parses_as_rust(buffer_text())
  assert(parses, "the filled code does not parse: " .. out)
end)

test(":DllmFillHoles fills every hole of the function", function()
  open("cmd.rs", "fn h() -> i32 {\n    todo!()\n}")
  vim.api.nvim_win_set_cursor(0, { 2, 4 })
  vim.cmd("DllmFillHoles")
  wait_for_text("fn h() -> i32 {\n    aaaaaa\n}")
end)

test("ghost text is shown, then accepted", function()
  open("ghost.rs", "fn f() -> i32 {\n    \n}")
  -- Where an insert-mode cursor would be: after the indentation, at the end of the line.
  vim.opt.virtualedit = "onemore"
  vim.api.nvim_win_set_cursor(0, { 2, 4 })
  local shown = nil
  ghost.request(function(item)
    shown = item
  end)
  assert(vim.wait(20000, function()
    return shown ~= nil
  end, 20), "no suggestion arrived")
  local marks = vim.api.nvim_buf_get_extmarks(0, ghost.ns, 0, -1, { details = true })
  assert(#marks == 1, "expected one ghost-text extmark, got " .. #marks)
  assert(marks[1][4].virt_text[1][1] == "aaaaaa", vim.inspect(marks[1][4].virt_text))
  assert(buffer_text() == "fn f() -> i32 {\n    \n}", "ghost text must not change the buffer")
  assert(dllm.accept(), "accept found no suggestion")
  assert(buffer_text() == "fn f() -> i32 {\n    aaaaaa\n}", buffer_text())
  assert(#vim.api.nvim_buf_get_extmarks(0, ghost.ns, 0, -1, {}) == 0, "ghost text stays after accepting")
  assert(not dllm.accept(), "a second accept must find nothing")
end)

--- The next-edit extmarks: { struck = {row, col, end_row, end_col} or nil, text = the virtual texts }.
local function next_edit_marks()
  local out = { text = {} }
  for _, m in ipairs(vim.api.nvim_buf_get_extmarks(0, next_edit.ns, 0, -1, { details = true })) do
    local d = m[4]
    if d.hl_group == "DllmNextEditDelete" then
      out.struck = { m[2], m[3], d.end_row, d.end_col }
    end
    for _, chunk in ipairs(d.virt_text or {}) do
      table.insert(out.text, chunk[1])
    end
  end
  return out
end

local RENAME = "fn f(x: i32) -> i32 {\n    let y = x + 1;\n    y * 2\n}"

test("a next edit is drawn, checked against the buffer's version, and accepted as one undo step", function()
  open("next_unit.rs", RENAME)
  vim.api.nvim_win_set_cursor(0, { 2, 8 })
  local version = vim.lsp.util.buf_versions[vim.api.nvim_get_current_buf()]
  local edit = {
    uri = vim.uri_from_bufnr(0),
    range = { start = { line = 2, character = 4 }, ["end"] = { line = 2, character = 5 } },
    newText = "total",
    version = version,
    label = "rename `y` → `total`",
  }
  local bufnr = vim.api.nvim_get_current_buf()
  -- An answer for another version, or to a request older than the last change, is not shown.
  assert(not next_edit.handle(bufnr, next_edit.tick, vim.tbl_extend("force", edit, { version = version - 1 })))
  assert(not next_edit.handle(bufnr, next_edit.tick - 1, edit))
  assert(#vim.api.nvim_buf_get_extmarks(0, next_edit.ns, 0, -1, {}) == 0, "nothing drawn for a stale answer")
  assert(next_edit.handle(bufnr, next_edit.tick, edit))
  local marks = next_edit_marks()
  assert(vim.deep_equal(marks.struck, { 2, 4, 2, 5 }), vim.inspect(marks))
  assert(vim.api.nvim_get_hl_by_name("DllmNextEditDelete", true).strikethrough, "the old text is struck through")
  assert(table.concat(marks.text):find("total", 1, true), vim.inspect(marks))
  assert(table.concat(marks.text):find("rename `y` → `total`", 1, true), vim.inspect(marks))
  assert(buffer_text() == RENAME, "a suggestion must not change the buffer")
  -- A new undo block, so that undo takes back the accepted edit alone.
  vim.cmd("let &undolevels = &undolevels")
  assert(dllm.accept_next_edit(), "accept found no suggestion")
  assert(buffer_text() == "fn f(x: i32) -> i32 {\n    let y = x + 1;\n    total * 2\n}", buffer_text())
  assert(vim.deep_equal(vim.api.nvim_win_get_cursor(0), { 3, 9 }), vim.inspect(vim.api.nvim_win_get_cursor(0)))
  assert(#vim.api.nvim_buf_get_extmarks(0, next_edit.ns, 0, -1, {}) == 0, "the marks stay after accepting")
  assert(not dllm.accept_next_edit(), "a second accept must find nothing")
  vim.cmd("silent undo")
  assert(buffer_text() == RENAME, "undo takes the edit back: " .. buffer_text())

  -- Shown, then the buffer changes under it: the marks go and accepting does nothing.
  version = vim.lsp.util.buf_versions[bufnr]
  assert(next_edit.handle(bufnr, next_edit.tick, vim.tbl_extend("force", edit, { version = version })))
  vim.api.nvim_buf_set_text(0, 0, 0, 0, 0, { "// x" })
  vim.wait(1000, function()
    return next_edit.current == nil
  end, 10)
  assert(#vim.api.nvim_buf_get_extmarks(0, next_edit.ns, 0, -1, {}) == 0, "the marks stay after a change")
  assert(not dllm.accept_next_edit())
  -- Shown, then a change the plugin has not heard of yet: the version check refuses it.
  version = vim.lsp.util.buf_versions[bufnr]
  assert(next_edit.handle(bufnr, next_edit.tick, vim.tbl_extend("force", edit, { version = version })))
  vim.lsp.util.buf_versions[bufnr] = version + 1
  assert(not dllm.accept_next_edit(), "a suggestion for an older version was applied")
  vim.lsp.util.buf_versions[bufnr] = version
end)

test("after a rename the server's next edit is shown, accepted, and the next one asked for", function()
  open("next.rs", RENAME)
  vim.api.nvim_win_set_cursor(0, { 2, 8 })
  local asked = next_edit.requests
  -- The rename, as typing it would change the buffer; the cursor after the new name.
  vim.api.nvim_buf_set_text(0, 1, 8, 1, 9, { "aaaaaa" })
  vim.api.nvim_win_set_cursor(0, { 2, 14 })
  assert(vim.wait(20000, function()
    return next_edit.current ~= nil
  end, 20), "no next edit arrived (" .. (next_edit.requests - asked) .. " requests)")
  assert(next_edit.requests - asked == 1, "asked once after the pause, not on every change")
  local marks = next_edit_marks()
  assert(vim.deep_equal(marks.struck, { 2, 4, 2, 5 }), vim.inspect(marks))
  assert(table.concat(marks.text):find("aaaaaa", 1, true), vim.inspect(marks))
  assert(dllm.accept_next_edit(), "accept found no suggestion")
  assert(buffer_text() == "fn f(x: i32) -> i32 {\n    let aaaaaa = x + 1;\n    aaaaaa * 2\n}", buffer_text())
  assert(vim.deep_equal(vim.api.nvim_win_get_cursor(0), { 3, 10 }), vim.inspect(vim.api.nvim_win_get_cursor(0)))
  -- The accepted edit is a change like another: after the pause the next one is asked for.
  assert(vim.wait(5000, function()
    return next_edit.requests - asked == 2
  end, 20), "no request after accepting")
end)

test(":DllmRewrite rewrites the visual selection", function()
  open("rewrite.rs", "fn k() -> i32 {\n    1 + 2\n}")
  vim.api.nvim_win_set_cursor(0, { 2, 4 })
  vim.cmd("normal! v4l\27")
  vim.cmd("'<,'>DllmRewrite")
  wait_for_text("fn k() -> i32 {\n    aaaaaa\n}")
end)

test(":checkhealth dllm shows a load's progress", function()
  local health = require("dllm.health")
  local text = health.status_text({
    state = "loading", model = "o/m", phase = "downloading", file = "model.safetensors",
    percent = 9, doneMb = 120, totalMb = 1261,
  })
  assert(text == "model loading: o/m (downloading model.safetensors: 120 of 1261 MB, 9%)", text)
  text = health.status_text({ state = "loading", model = "o/m", phase = "loading", percent = 75, doneMb = 946, totalMb = 1261 })
  assert(text == "model loading: o/m (reading the weights: 946 of 1261 MB, 75%)", text)
  assert(health.status_text({ state = "loading", model = "o/m" }) == "model loading: o/m")
end)

test(":checkhealth dllm reports the binary and the model", function()
  open("health.rs", "fn main() {}")
  vim.cmd("checkhealth dllm")
  local report = table.concat(vim.api.nvim_buf_get_lines(0, 0, -1, false), "\n")
  assert(report:find("server binary", 1, true), report)
  assert(report:find("model loaded", 1, true), report)
  assert(report:find("next edits: on; accept with <M-n>", 1, true), report)
end)

print(string.format("%d passed, %d failed", results.passed, results.failed))
if results.failed > 0 then
  vim.cmd("cquit 1")
else
  vim.cmd("qall!")
end
