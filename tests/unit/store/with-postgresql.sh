#!/bin/sh
# with-postgresql.sh - run COMMAND [ARGS...] against a throwaway PostgreSQL
# cluster: initdb and pg_ctl (Debian's postgresql package) into a temporary
# folder, listening only on a unix socket in it (no port to collide with),
# trust authentication for the user petrel; PETREL_TEST_PG_URL names it.  The
# cluster is stopped and the folder removed at the end.  If the cluster
# cannot start, the test fails: there is no silent skip.  As root (initdb
# refuses root) the cluster runs as the postgres user.
set -u
BIN=${PETREL_PG_BINDIR:-}
if [ -z "$BIN" ]; then
	for d in /usr/lib/postgresql/*/bin; do
		[ -x "$d/initdb" ] && BIN=$d
	done
fi
if [ -z "$BIN" ] || [ ! -x "$BIN/initdb" ]; then
	echo "with-postgresql: no initdb (install postgresql: scripts/install-deps.sh)" >&2
	exit 1
fi
T=$(mktemp -d /tmp/petrel-pg-XXXXXX) || exit 1
RUN=
if [ "$(id -u)" = 0 ]; then
	chown postgres "$T" || exit 1
	RUN="runuser -u postgres --"
fi
chmod 755 "$T"
stop() {
	$RUN "$BIN/pg_ctl" -D "$T/data" -m immediate stop >/dev/null 2>&1
	rm -rf "$T"
}
trap stop EXIT
trap 'exit 1' INT TERM
if ! $RUN "$BIN/initdb" -D "$T/data" -U petrel --auth=trust -E UTF8 >"$T/initdb.log" 2>&1; then
	cat "$T/initdb.log" >&2
	exit 1
fi
if ! $RUN "$BIN/pg_ctl" -D "$T/data" -w -t 120 -l "$T/server.log" \
	-o "-c listen_addresses= -k $T -c fsync=off" start >/dev/null; then
	cat "$T/server.log" >&2
	exit 1
fi
PETREL_TEST_PG_URL="postgresql://petrel@/postgres?host=$T" "$@"
