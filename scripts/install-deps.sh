#!/bin/sh
# install-deps.sh - install the Debian packages Petrel needs to build and test, if missing.
#   scripts/install-deps.sh          build, test and benchmark dependencies
set -eu

PKGS="meson ninja-build pkg-config gcc clang libevent-dev libssl-dev libunbound-dev
libsqlite3-dev sqlite3 libcrypt-dev libinih-dev libcmocka-dev libclang-rt-14-dev openssl
python3 python3-pytest python3-pytest-xdist swaks libnet-ssleay-perl libio-socket-ssl-perl libauthen-sasl-perl
curl msmtp dnsmasq-base valgrind postfix"
# postfix: a real peer in the integration tests, smtp-source/smtp-sink for
# load, and the other side of `make bench`.
# python3-pytest-xdist: scripts/run-tests.sh runs the integration tests on
# every CPU at once (pytest -n auto).

missing=""
for p in $PKGS; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $p"
    fi
done
[ -z "$missing" ] && exit 0

echo "install-deps: installing:$missing"
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO=sudo
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing
