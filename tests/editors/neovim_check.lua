-- Run by tests/test_editor_neovim.py inside a headless Neovim (Debian's, 0.7 or later), on the spec it opened:
-- start `kspec lsp` as Neovim's own LSP client, wait for its diagnostics, ask for the inlay hints, and write what
-- the editor got as JSON to $KSPEC_NVIM_OUT.
local out = os.getenv("KSPEC_NVIM_OUT")
local cmd = vim.fn.json_decode(os.getenv("KSPEC_NVIM_CMD"))
-- Neovim's own handler shows the diagnostics; this one also notes that they came.
local published = false
local show = vim.lsp.handlers["textDocument/publishDiagnostics"]
vim.lsp.handlers["textDocument/publishDiagnostics"] = function(err, result, ctx, config)
  show(err, result, ctx, config)
  published = true
end
local client = vim.lsp.start_client({ name = "kspec", cmd = cmd, root_dir = vim.fn.getcwd() })
vim.lsp.buf_attach_client(0, client)
vim.wait(60000, function() return published end, 20)
local result = { published = published, diagnostics = {}, hints = {} }
for _, d in ipairs(vim.diagnostic.get(0)) do
  table.insert(result.diagnostics, { lnum = d.lnum, col = d.col, end_col = d.end_col, code = d.code, message = d.message, source = d.source })
end
local params = { textDocument = vim.lsp.util.make_text_document_params(), range = { start = { line = 0, character = 0 }, ["end"] = { line = vim.api.nvim_buf_line_count(0), character = 0 } } }
local hints = vim.lsp.buf_request_sync(0, "textDocument/inlayHint", params, 20000)
for _, r in pairs(hints or {}) do
  for _, h in ipairs(r.result or {}) do table.insert(result.hints, { line = h.position.line, label = h.label }) end
end
local f = io.open(out, "w"); f:write(vim.fn.json_encode(result)); f:close()
vim.lsp.stop_client(client)
vim.cmd("qa!")
