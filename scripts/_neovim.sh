# Sourced by scripts/test.sh (from the repository root): Neovim, a real editor for tests/test_editor_neovim.py (it
# starts `kspec lsp` as its own LSP client). When `nvim` is missing and we are root with apt-get (a clean Debian CI
# machine), install Debian's `neovim`; otherwise do nothing. Not fatal here: without it those tests skip, or fail
# where KSPEC_REQUIRE_NEOVIM=1.
if ! command -v nvim >/dev/null 2>&1; then
    if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "Installing Neovim (apt-get install neovim) for tests/test_editor_neovim.py ..." >&2
        _neovim_log="$(mktemp)"
        if ! {
            DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
                DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends neovim
        } >"$_neovim_log" 2>&1; then
            echo "Installing Neovim failed; the editor tests will skip (fail under KSPEC_REQUIRE_NEOVIM=1):" >&2
            tail -n 20 "$_neovim_log" >&2
        fi
        rm -f "$_neovim_log"
        unset _neovim_log
    fi
fi
if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    export KSPEC_REQUIRE_NEOVIM="${KSPEC_REQUIRE_NEOVIM:-1}"
fi
