#!/bin/sh
# install-deps.sh - install the Debian packages Petrel needs to build and test, if missing.
#   scripts/install-deps.sh          build, test and benchmark dependencies
set -eu

PKGS="meson ninja-build pkg-config gcc clang libevent-dev libssl-dev libunbound-dev
libsqlite3-dev sqlite3 zlib1g-dev libcrypt-dev libinih-dev libcmocka-dev libclang-rt-14-dev openssl
python3 python3-pytest python3-pytest-xdist swaks libnet-ssleay-perl libio-socket-ssl-perl libauthen-sasl-perl
curl msmtp fetchmail dnsmasq-base valgrind postfix libseccomp-dev adduser strace
python3-dkim python3-nacl python3-spf python3-yaml python3-dnslib python3-dnspython"
# libpq-dev: the PostgreSQL store backend's header (src/store/store-pg.c), and libpq5,
# the library src/store/pq-load.c loads when a PostgreSQL store is configured (a
# dependency of libpq-dev: the binary does not link it); postgresql: initdb
# and pg_ctl for the throwaway clusters of the store tests (tests/unit/store/
# with-postgresql.sh) and the integration tests on PostgreSQL.
PKGS="$PKGS libpq-dev postgresql"
# libjansson-dev: JSON of the HTTP API (src/http/); wrk: the HTTP load generator
# docs/http.md's measurements were made with.
PKGS="$PKGS libjansson-dev wrk"
# nodejs, npm: SendGrid's official Node client (@sendgrid/mail, pinned in
# tests/integration/sendgrid/package.json and its package-lock.json), which
# test_http_sendgrid_node.py installs there with `npm ci` (never globally) and sends
# through POST /v3/mail/send.  NodeSource's nodejs package brings its own npm and
# conflicts with Debian's (apt-get then refuses the whole list): npm is asked for
# only when there is no npm command yet.
PKGS="$PKGS nodejs"
command -v npm >/dev/null 2>&1 || PKGS="$PKGS npm"
# publicsuffix: the Public Suffix List, for DMARC's organizational domain.
PKGS="$PKGS publicsuffix"
# libmail-dmarc-perl: Mail::DMARC, the DMARC implementation test_dmarc.py compares with.
PKGS="$PKGS libmail-dmarc-perl"
# opendkim-tools: opendkim-testmsg, the second verifier (with dkimpy's dkimverify) of the
# signatures Petrel makes (test_dkim_sign.py); iproute2: `ip` brings up the loopback
# interface of the network namespace that test runs both verifiers in.
PKGS="$PKGS opendkim-tools iproute2"
# libmail-srs-perl: Mail::SRS, the SRS implementation test_srs.py and test-srs check against.
PKGS="$PKGS libmail-srs-perl"
# python3-authres: authres, the Authentication-Results parser (RFC 8601) that
# test_receive_auth.py, test_receive_arc.py and test_forward_e2e.py read Petrel's fields with.
PKGS="$PKGS python3-authres"
# python3-cryptography: test_webhook.py checks the signed event webhook's ECDSA
# signatures the way a receiver does (SendGrid's own example uses it)
PKGS="$PKGS python3-cryptography"
# chromium, chromium-driver, python3-selenium: the web pages in a real browser
# (tests/integration/browser.py, test_web_browser.py), headless, with screenshots.
PKGS="$PKGS chromium chromium-driver python3-selenium"
# python3-prometheus-client: its parser reads GET /metrics in test_metrics.py, as
# Prometheus' own client library reads the text format
PKGS="$PKGS python3-prometheus-client"
# isync, neomutt: mbsync (a Maildir synchronizer) and neomutt, the IMAP clients of
# test_imap_clients.py.
PKGS="$PKGS isync neomutt"
# dovecot-imapd, dovecot-lmtpd (and dovecot-core): the other side of bench/imap.py,
# run unprivileged from a generated configuration (the package's own service is not used).
PKGS="$PKGS dovecot-core dovecot-imapd dovecot-lmtpd"
# haproxy: the load balancer in front of a proxy_protocol listener in
# test_proxy_protocol.py (send-proxy-v2), run from a generated configuration.
PKGS="$PKGS haproxy"
# postfix: a real peer in the integration tests, smtp-source/smtp-sink for
# load, and the other side of `make bench`.
# libseccomp-dev: the system call filters of the auth and keys processes.
# adduser: the system users below.
# strace: tests/integration/test_durability_order.py records the order of
# writes, flushes and replies with it (and the bench's durability check).
# python3-dkim, python3-nacl: dkimpy (dkimsign, dknewkey, its Python API and
# test vectors; nacl for Ed25519) signs the messages test_dkim_verify.py verifies.
# python3-spf, python3-yaml, python3-dnslib, python3-dnspython: the RFC 7208 test
# suite (python3-spf ships rfc7208-tests.yml.gz), read with yaml, its zones served by
# a dnslib server (tests/integration/spf_dns.py), and pyspf (on dnspython) as the
# reference test_spf.py compares with.
# python3-pytest-xdist: scripts/run-tests.sh runs the integration tests on
# every CPU at once (pytest -n auto).

# The users of Petrel's processes (docs/security.md): the network process,
# the auth process (password hashes) and the keys process (DKIM keys).
USERS="petrel petrel-auth petrel-keys"

SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO=sudo

missing=""
for p in $PKGS; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $p"
    fi
done
if [ -n "$missing" ]; then
    echo "install-deps: installing:$missing"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing
fi

# As a Debian package's postinst would: a system user with a group of its own,
# no home, no login shell.
for u in $USERS; do
    getent passwd "$u" >/dev/null && continue
    echo "install-deps: creating system user $u"
    if command -v adduser >/dev/null 2>&1; then
        $SUDO adduser --system --group --no-create-home --home /nonexistent --quiet "$u"
    else
        $SUDO useradd --system --user-group --no-create-home --home-dir /nonexistent \
            --shell /usr/sbin/nologin "$u"
    fi
done
