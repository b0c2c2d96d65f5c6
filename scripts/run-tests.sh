#!/bin/sh
# run-tests.sh BUILD - run every test against the sanitizer build in BUILD:
# the C unit tests (meson test), a short run of each fuzz target (clang), and
# the pytest integration suite against BUILD/petrel.
# Ends with one "N passed, N failed" line; exits non-zero if anything failed.
set -u
build=${1:-build-test}
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

passed=0
failed=0

# ---- unit tests -------------------------------------------------------------
echo "== unit tests"
if meson test -C "$build" --print-errorlogs > "$build/unit.log" 2>&1; then
    unit_rc=0
else
    unit_rc=1
fi
cat "$build/unit.log" | grep -E '^ *[0-9]+/[0-9]+ ' || true
u_ok=$(sed -n 's/^Ok: *\([0-9]*\).*/\1/p' "$build/unit.log" | tail -n 1)
u_fail=$(sed -n 's/^Fail: *\([0-9]*\).*/\1/p' "$build/unit.log" | tail -n 1)
u_ok=${u_ok:-0}
u_fail=${u_fail:-0}
if [ "$unit_rc" -ne 0 ] && [ "$u_fail" -eq 0 ]; then
    cat "$build/unit.log"
    u_fail=1
fi
passed=$((passed + u_ok))
failed=$((failed + u_fail))

# ---- fuzz targets -------------------------------------------------------------
# Built with clang (so the code also compiles warning-free there) and each run
# for a few seconds from its seed corpus: a crash or a broken invariant fails.
echo "== fuzz targets (clang, ${FUZZ_SECONDS:-5} s each)"
fuzz_build=build-fuzz
if [ ! -f "$fuzz_build/build.ninja" ]; then
    CC=clang meson setup "$fuzz_build" --buildtype=debug -Dfuzz=true -Db_lundef=false \
        > "$build/fuzz-setup.log" 2>&1 || { cat "$build/fuzz-setup.log"; failed=$((failed + 1)); }
fi
if ninja -C "$fuzz_build" > "$build/fuzz-build.log" 2>&1; then
    for target in "$fuzz_build"/fuzz/fuzz-*; do
        [ -x "$target" ] && [ -f "$target" ] || continue
        name=$(basename "$target")
        work=$(mktemp -d)
        [ -d "fuzz/corpus/$name" ] && cp "fuzz/corpus/$name"/* "$work"/ 2>/dev/null
        if (cd "$work" && "$OLDPWD/$target" -max_total_time="${FUZZ_SECONDS:-5}" \
                -rss_limit_mb=2048 "$work" > fuzz.log 2>&1); then
            echo "fuzz $name: ok"
            passed=$((passed + 1))
        else
            echo "fuzz $name: FAILED"
            tail -n 30 "$work/fuzz.log"
            failed=$((failed + 1))
        fi
        rm -rf "$work"
    done
else
    cat "$build/fuzz-build.log"
    failed=$((failed + 1))
fi

# ---- integration tests ------------------------------------------------------
echo "== integration tests"
PETREL_BIN="$root/$build/petrel" /usr/bin/python3 -m pytest tests/integration -q \
    -p no:cacheprovider --junitxml="$build/integration.xml" 2>&1 | tee "$build/integration.log"
i_pass=$(/usr/bin/python3 - "$build/integration.xml" <<'PY'
import sys, xml.etree.ElementTree as ET
try:
    root = ET.parse(sys.argv[1]).getroot()
except Exception:
    print("0 1")
    sys.exit()
suites = [root] if root.tag == "testsuite" else list(root)
t = sum(int(s.get("tests", 0)) for s in suites)
f = sum(int(s.get("failures", 0)) + int(s.get("errors", 0)) for s in suites)
sk = sum(int(s.get("skipped", 0)) for s in suites)
print(t - f - sk, f if t else 1)
PY
)
set -- $i_pass
passed=$((passed + $1))
failed=$((failed + $2))

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
