#!/bin/sh
# valgrind.sh PROGRAM [ARGS...] - run one unit test program under valgrind's
# memcheck: the wrapper of `meson test --setup valgrind` (scripts/run-tests.sh
# runs it on the release build).  Exits 99 when valgrind finds an error: an
# invalid read or write, a jump or a system call that depends on an
# uninitialised value, a block leaked with nothing left pointing to it.
# A wrapper script (with-postgresql.sh) is run with this script before its
# command, so that valgrind checks the test program, not the shell.
set -u
here=$(cd "$(dirname "$0")" && pwd)
case "$1" in
*.sh)
	script=$1
	shift
	exec "$script" "$here/valgrind.sh" "$@"
	;;
esac
exec valgrind --quiet --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite \
	--suppressions="$here/valgrind.supp" "$@"
