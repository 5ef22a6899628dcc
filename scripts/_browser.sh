# Sourced by scripts/test.sh (from the repository root): Chromium for the report's browser tests
# (tests/test_report_page.py, through tests/browser.py: Playwright driving the system browser, never a downloaded
# one). When /usr/bin/chromium is missing and we are root with apt-get (a clean Debian CI machine), install Debian's
# `chromium` package; otherwise do nothing, so that a developer's machine without root is left alone (those tests
# then skip, or fail where KSPEC_REQUIRE_BROWSER=1).
if [ ! -x /usr/bin/chromium ] && [ -z "${KSPEC_CHROMIUM:-}" ]; then
    if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "Installing Chromium (apt-get install chromium) for tests/test_report_page.py ..." >&2
        _browser_log="$(mktemp)"
        if ! {
            DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
                DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium
        } >"$_browser_log" 2>&1; then
            # Not fatal here: the browser tests say so (a skip, or a failure under KSPEC_REQUIRE_BROWSER=1).
            echo "Installing Chromium failed; the browser tests will skip (fail under KSPEC_REQUIRE_BROWSER=1):" >&2
            tail -n 20 "$_browser_log" >&2
        fi
        rm -f "$_browser_log"
        unset _browser_log
    fi
fi
# Where this script can install Chromium (root with apt-get: CI, a fresh machine), the browser tests must run.
if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    export KSPEC_REQUIRE_BROWSER="${KSPEC_REQUIRE_BROWSER:-1}"
fi
