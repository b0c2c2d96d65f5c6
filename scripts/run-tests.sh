#!/bin/sh
# run-tests.sh BUILD [RELEASE] - run every test against the sanitizer build in
# BUILD: the C unit tests (meson test), the same programs of the release build
# RELEASE (default build) under valgrind, a short run of each fuzz target
# (clang), and the pytest integration suite against BUILD/petrel.
# Ends with one "N passed, N failed, N skipped, N known failures" line (cmocka
# cases one by one, each valgrind program and each fuzz target as one, each
# pytest test); every skip and
# every known failure (a pytest xfail) is printed with its reason.  Exits
# non-zero if anything failed.
set -u
build=${1:-build-test}
release=${2:-build}
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

passed=0
failed=0
skipped=0
failures=""   # the failed tests' names, repeated at the end (CI shows the tail)

# ---- unit tests -------------------------------------------------------------
# Every unit test program is cmocka: with CMOCKA_MESSAGE_OUTPUT=tap each case
# prints one TAP line ("ok N - name", "not ok N - name", "not ok N # SKIP name",
# a skip's reason on the "# SKIP reason:" comment before it), which meson
# keeps in its test log: cases are counted one by one, not programs.
echo "== unit tests"
if CMOCKA_MESSAGE_OUTPUT=tap meson test -C "$build" --print-errorlogs > "$build/unit.log" 2>&1; then
    unit_rc=0
else
    unit_rc=1
fi
grep -E '^ *[0-9]+/[0-9]+ ' "$build/unit.log" || true
testlog="$build/meson-logs/testlog.txt"
u_ok=$(grep -cE '^ok [0-9]+' "$testlog" 2>/dev/null)
u_fail=$(grep -E '^not ok [0-9]+' "$testlog" 2>/dev/null | grep -vc '# SKIP')
u_skip=$(grep -E '^not ok [0-9]+' "$testlog" 2>/dev/null | grep -c '# SKIP')
# a program that failed without a failed case (a crash, a leak found at exit)
# still counts: at least one failure per failed program
m_fail=$(sed -n 's/^Fail: *\([0-9]*\).*/\1/p' "$build/unit.log" | tail -n 1)
m_fail=${m_fail:-0}
[ "$u_fail" -ge "$m_fail" ] || u_fail=$m_fail
if [ "$unit_rc" -ne 0 ] && [ "$u_fail" -eq 0 ]; then
    cat "$build/unit.log"
    u_fail=1
fi
awk '/^# SKIP reason:/ { reason = substr($0, 15) }
     /^not ok [0-9]+ # SKIP/ { print "unit test skipped: " $NF ":" (reason ? reason : " (no reason given)"); reason = "" }' \
    "$testlog" 2>/dev/null
[ "$u_fail" -gt 0 ] && failures="$failures
$(grep -E '^ *[0-9]+/[0-9]+ .*(FAIL|TIMEOUT)' "$build/unit.log" | sed 's/^/  unit program: /')
$(grep -E '^not ok [0-9]+' "$testlog" 2>/dev/null | grep -v '# SKIP' | sed 's/^/  unit case: /')"
echo "unit: $u_ok passed, $u_fail failed, $u_skip skipped (cmocka cases)"
passed=$((passed + u_ok))
failed=$((failed + u_fail))
skipped=$((skipped + u_skip))

# ---- valgrind -----------------------------------------------------------------
# The unit test programs of the release build (no sanitizer: valgrind and ASan
# do not mix) under valgrind's memcheck (meson test --setup valgrind,
# tests/valgrind.sh): what the sanitizers do not see, a use of an uninitialised
# value, fails here.  Each program counts as one.  The 'confinement' suite runs
# in the sanitizer pass only (meson.build says why): counted as skipped.
echo "== valgrind (the release build's unit test programs)"
if meson test -C "$release" --setup valgrind --no-rebuild --print-errorlogs \
        > "$build/valgrind.log" 2>&1; then
    vg_rc=0
else
    vg_rc=1
fi
grep -E '^ *[0-9]+/[0-9]+ ' "$build/valgrind.log" | grep -vE ' OK ' | awk '!seen[$0]++'
vg_ok=$(sed -n 's/^Ok: *\([0-9]*\).*/\1/p' "$build/valgrind.log" | tail -n 1)
vg_fail=$(sed -n 's/^\(Fail\|Timeout\|Unexpected Pass\): *\([0-9]*\).*/\2/p' "$build/valgrind.log" |
    awk '{ n += $1 } END { print n + 0 }')
vg_ok=${vg_ok:-0}
if [ "$vg_rc" -ne 0 ] && [ "$vg_fail" -eq 0 ]; then
    tail -n 40 "$build/valgrind.log"
    vg_fail=1
fi
vg_skip=0
for name in $(meson test -C "$release" --list --no-rebuild --suite confinement 2>/dev/null |
        sed -n 's|^petrel:[^ ]* / ||p'); do
    echo "valgrind skipped: $name: loads a seccomp filter or checks a forked child's exit status (run in the sanitizer pass)"
    vg_skip=$((vg_skip + 1))
done
[ "$vg_fail" -gt 0 ] && failures="$failures
$(grep -E '^ *[0-9]+/[0-9]+ .*(FAIL|ERROR|TIMEOUT)' "$build/valgrind.log" | awk '!seen[$0]++' |
    sed 's/^/  valgrind: /')"
echo "valgrind: $vg_ok passed, $vg_fail failed, $vg_skip skipped (programs)"
passed=$((passed + vg_ok))
failed=$((failed + vg_fail))
skipped=$((skipped + vg_skip))

# ---- fuzz targets -------------------------------------------------------------
# Built with clang (so the code also compiles warning-free there) and each run
# for a few seconds from its seed corpus: a crash or a broken invariant fails.
echo "== fuzz targets (clang, ${FUZZ_SECONDS:-5} s each, ${FUZZ_JOBS:-2} at a time)"
fuzz_build=build-fuzz
if [ ! -f "$fuzz_build/build.ninja" ]; then
    CC=clang meson setup "$fuzz_build" --buildtype=debug -Dfuzz=true -Db_lundef=false \
        > "$build/fuzz-setup.log" 2>&1 || { cat "$build/fuzz-setup.log"; failed=$((failed + 1)); }
fi
# fuzz_one TARGET: run one target from a copy of its seed corpus; prints
# "fuzz NAME: ok" or "fuzz NAME: FAILED" and the end of its log
fuzz_one() {
    name=$(basename "$1")
    work=$(mktemp -d)
    [ -d "fuzz/corpus/$name" ] && cp "fuzz/corpus/$name"/* "$work"/ 2>/dev/null
    if (cd "$work" && "$root/$1" -max_total_time="${FUZZ_SECONDS:-5}" \
            -rss_limit_mb=2048 "$work" > fuzz.log 2>&1); then
        echo "fuzz $name: ok"
    else
        echo "fuzz $name: FAILED"
        tail -n 30 "$work/fuzz.log"
    fi
    rm -rf "$work"
}
# fuzz_lane N: the targets whose place in the list is N modulo FUZZ_JOBS
fuzz_lane() {
    i=0
    for target in "$fuzz_build"/fuzz/fuzz-*; do
        [ -x "$target" ] && [ -f "$target" ] || continue
        [ $((i % ${FUZZ_JOBS:-2})) -eq "$1" ] && fuzz_one "$target"
        i=$((i + 1))
    done
}
if ninja -C "$fuzz_build" > "$build/fuzz-build.log" 2>&1; then
    # FUZZ_JOBS targets at a time (default 2, one per core of the CI machine)
    lane=0
    while [ "$lane" -lt "${FUZZ_JOBS:-2}" ]; do
        fuzz_lane "$lane" > "$build/fuzz-lane-$lane.log" 2>&1 &
        lane=$((lane + 1))
    done
    wait
    lane=0
    while [ "$lane" -lt "${FUZZ_JOBS:-2}" ]; do
        cat "$build/fuzz-lane-$lane.log"
        ok=$(grep -c '^fuzz .*: ok$' "$build/fuzz-lane-$lane.log")
        bad=$(grep '^fuzz .*: FAILED$' "$build/fuzz-lane-$lane.log" | sed 's/^fuzz \(.*\): FAILED$/\1/')
        passed=$((passed + ok))
        for name in $bad; do
            failures="$failures
  fuzz target: $name"
            failed=$((failed + 1))
        done
        lane=$((lane + 1))
    done
else
    cat "$build/fuzz-build.log"
    failed=$((failed + 1))
fi

# ---- integration tests ------------------------------------------------------
echo "== integration tests"
# -rs: each skipped test is listed with its reason in the summary.  -n auto
# (python3-pytest-xdist): one worker per CPU; every test has its own folder and
# loopback ports, so they run side by side (whole suite on 2 CPUs: 817 s -> 300 s).
parallel=""
/usr/bin/python3 -c "import xdist" 2>/dev/null && parallel="-n auto"
PETREL_BIN="$root/$build/petrel" /usr/bin/python3 -m pytest tests/integration -q -rsx $parallel \
    -p no:cacheprovider --junitxml="$build/integration.xml" 2>&1 | tee "$build/integration.log"
i_counts=$(/usr/bin/python3 - "$build/integration.xml" 2> "$build/integration-failed.txt" <<'PY'
import sys, xml.etree.ElementTree as ET
try:
    root = ET.parse(sys.argv[1]).getroot()
except Exception:
    print("0 1 0")
    sys.exit()
suites = [root] if root.tag == "testsuite" else list(root)
t = sum(int(s.get("tests", 0)) for s in suites)
f = sum(int(s.get("failures", 0)) + int(s.get("errors", 0)) for s in suites)
sk = sum(int(s.get("skipped", 0)) for s in suites)
# an expected failure (xfail: a known failure, listed with its reason) is a
# "skipped" in JUnit: counted apart here
xf = sum(1 for s in suites for case in s.iter("testcase")
         for e in case.findall("skipped") if e.get("type") == "pytest.xfail")
print(t - f - sk, f if t else 1, sk - xf, xf)
for s in suites:
    for case in s.iter("testcase"):
        if case.find("failure") is not None or case.find("error") is not None:
            print("  integration:", case.get("classname", "") + "::" + case.get("name", ""),
                  file=sys.stderr)
PY
)
set -- $i_counts
passed=$((passed + $1))
failed=$((failed + $2))
skipped=$((skipped + $3))
known=${4:-0}

[ -s "$build/integration-failed.txt" ] && failures="$failures
$(cat "$build/integration-failed.txt")"
[ -n "$failures" ] && echo "failed:$failures"
echo "$passed passed, $failed failed, $skipped skipped, $known known failures (xfail, reasons above)"
[ "$failed" -eq 0 ]
