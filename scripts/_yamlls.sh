# Sourced by scripts/test.sh (from the repository root): yaml-language-server, the npm package (pinned), for
# tests/test_schema_editor.py (the JSON Schema as an editor shows it: hover, completion, diagnostics). When node or
# npm is missing and we are root with apt-get (a clean Debian CI machine), install Debian's `nodejs` and `npm`;
# then, when .node/ lacks the pinned yaml-language-server, `npm install` it there (.node/ is git-ignored). Nothing
# is fatal here: without it those tests skip, or fail where KSPEC_REQUIRE_YAMLLS=1. KSPEC_YAMLLS names another.
KSPEC_YAMLLS_VERSION=1.25.0
if [ -z "${KSPEC_YAMLLS:-}" ]; then
    if ! { command -v node && command -v npm; } >/dev/null 2>&1; then
        if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
            echo "Installing Node.js (apt-get install nodejs npm) for tests/test_schema_editor.py ..." >&2
            _yamlls_log="$(mktemp)"
            if ! {
                DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
                    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nodejs npm
            } >"$_yamlls_log" 2>&1; then
                echo "Installing Node.js failed; the editor tests will skip (fail under KSPEC_REQUIRE_YAMLLS=1):" >&2
                tail -n 20 "$_yamlls_log" >&2
            fi
            rm -f "$_yamlls_log"
            unset _yamlls_log
        fi
    fi
    _yamlls_package=.node/node_modules/yaml-language-server/package.json
    if command -v npm >/dev/null 2>&1 &&
        ! grep -q "\"version\": \"$KSPEC_YAMLLS_VERSION\"" "$_yamlls_package" 2>/dev/null; then
        echo "Installing yaml-language-server@$KSPEC_YAMLLS_VERSION (npm, into .node/) ..." >&2
        _yamlls_log="$(mktemp)"
        if ! npm install --prefix .node --no-audit --no-fund --save-exact \
            "yaml-language-server@$KSPEC_YAMLLS_VERSION" >"$_yamlls_log" 2>&1; then
            echo "Installing yaml-language-server failed; the editor tests will skip (fail under KSPEC_REQUIRE_YAMLLS=1):" >&2
            tail -n 20 "$_yamlls_log" >&2
        fi
        rm -f "$_yamlls_log"
        unset _yamlls_log
    fi
    unset _yamlls_package
    if [ -x .node/node_modules/.bin/yaml-language-server ]; then
        export KSPEC_YAMLLS="$PWD/.node/node_modules/.bin/yaml-language-server"
    fi
fi
# Where this script can install it (root with apt-get: CI, a fresh machine), the editor tests must run.
if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    export KSPEC_REQUIRE_YAMLLS="${KSPEC_REQUIRE_YAMLLS:-1}"
fi
