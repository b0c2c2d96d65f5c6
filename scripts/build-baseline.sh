#!/bin/sh
# scripts/build-baseline.sh REV DIR - build Petrel as it was at git revision REV
# (release, as `make build`) into DIR/build/petrel, for benchmarks that compare
# the current build with an earlier one (bench/privsep.py).  Reuses DIR when it
# already holds that revision's build.
set -eu
rev=$1
dir=$2
root=$(cd "$(dirname "$0")/.." && pwd)
want=$(git -C "$root" rev-parse "$rev^{commit}")
if [ -x "$dir/build/petrel" ] && [ "$(cat "$dir/REVISION" 2>/dev/null)" = "$want" ]; then
	exit 0
fi
rm -rf "$dir"
mkdir -p "$dir/src"
git -C "$root" archive "$want" | tar -x -C "$dir/src"
meson setup "$dir/build" "$dir/src" --buildtype=release -Dwerror=true >/dev/null
ninja -C "$dir/build" >/dev/null
echo "$want" > "$dir/REVISION"
