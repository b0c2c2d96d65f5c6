#!/bin/sh
# dev-setup.sh DIR [PETREL] - prepare a development data folder for `petrel serve`.
#
# Used by `make run` as `scripts/dev-setup.sh var build/petrel`.  Idempotent: creates DIR,
# DIR/petrel.conf (never overwritten once it exists) and a self-signed
# certificate DIR/tls/cert.pem + key.pem (only if missing), then prints how to
# send a first message.  Development listeners use loopback ports above 1024,
# so no root is needed; user = "" means Petrel stays the user that started it
# (run as root, the file says user = root: Petrel refuses an empty user as root).
#   mx           127.0.0.1:10025
#   submission   127.0.0.1:10587 (and [::1]:10587 when IPv6 loopback works)
#   submissions  127.0.0.1:10465 (implicit TLS)
#   imap, imaps  127.0.0.1:10143 (STARTTLS), 127.0.0.1:10993 (implicit TLS)
#   http, https  127.0.0.1:10088, 127.0.0.1:10443 (TLS): the HTTP API
#   local        DIR/sendmail.sock (petrel sendmail)
# With PETREL (the binary) it also adds the account you@example.test
# (password petrel-dev), so the first message has a mailbox to go to.
set -eu

if [ $# -lt 1 ] || [ $# -gt 2 ]; then
	echo "usage: $0 DIR [PETREL]" >&2
	exit 2
fi
dir=$1
conf=$dir/petrel.conf

mkdir -p "$dir" "$dir/tls"
chmod 700 "$dir/tls"

if [ ! -f "$dir/tls/cert.pem" ] || [ ! -f "$dir/tls/key.pem" ]; then
	# -addext needs OpenSSL >= 1.1.1 (Debian 12 has 3.0); umask keeps the
	# key private from the moment it is written
	(umask 077 && openssl req -x509 -newkey rsa:2048 -nodes -days 825 \
		-subj "/CN=localhost" \
		-addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
		-keyout "$dir/tls/key.pem" -out "$dir/tls/cert.pem" 2>/dev/null)
	chmod 644 "$dir/tls/cert.pem"
	chmod 600 "$dir/tls/key.pem"
	echo "dev-setup: created a self-signed certificate in $dir/tls/"
fi

if [ ! -f "$conf" ]; then
	host=$(hostname -f 2>/dev/null || true)
	case $host in
	*.*) ;;
	*) host=localhost ;;
	esac
	# The IPv6 loopback is absent in some containers: listen there only if
	# binding to it works.
	ipv6_listener=
	if command -v python3 >/dev/null 2>&1 &&
	   python3 -c 'import socket; s = socket.socket(socket.AF_INET6); s.bind(("::1", 0)); s.close()' \
		>/dev/null 2>&1; then
		ipv6_listener='
[listener submission-v6]
role = submission
address = [::1]:10587
'
	fi
	dev_user=
	[ "$(id -u)" -ne 0 ] || dev_user=root
	cat >"$conf.tmp" <<CONF
; Development configuration written by scripts/dev-setup.sh.
; Edit freely: dev-setup.sh never overwrites it.  Reference: docs/configuration.md.
; Relative paths are relative to this file's directory.

[server]
hostname = $host
; this folder holds the spool, mail/, petrel.db and tls/
data_dir = .
; empty: no privilege drop, run as the current user (as root: "root")
user = $dev_user
log_level = info
syslog = false
workers = 4

[domains]
local = example.test, localhost
; postmaster@ every local domain (RFC 5321 4.5.1) and double bounces go here
postmaster = you@example.test

[tls]
certificate = tls/cert.pem
key = tls/key.pem

[limits]
bare_newline = reject

[http]
; the base of the links Petrel puts in mail (one-click unsubscribe, sign-up)
public_url = http://127.0.0.1:10088

[web]
; anyone may sign up at http://127.0.0.1:10088/signup (docs/web.md)
signup = open

[listener mx]
role = mx
address = 127.0.0.1:10025

[listener submission]
role = submission
address = 127.0.0.1:10587
$ipv6_listener
[listener submissions]
role = submissions
address = 127.0.0.1:10465

# IMAP: STARTTLS, and implicit TLS
[listener imap]
role = imap
address = 127.0.0.1:10143

[listener imaps]
role = imaps
address = 127.0.0.1:10993

# the HTTP API and the web pages (docs/http.md, web.md): plain, and TLS from
# the first octet.  10088, not 10080: browsers refuse port 10080 (Chromium's
# ERR_UNSAFE_PORT)
[listener http]
role = http
address = 127.0.0.1:10088

[listener https]
role = https
address = 127.0.0.1:10443

# petrel sendmail (-c $conf) submits through this socket
[listener local]
role = local
address = unix:sendmail.sock
CONF
	mv "$conf.tmp" "$conf"
	echo "dev-setup: wrote $conf"
fi

# A development mailbox to send to (and log in as), made once with the CLI.
petrel=${2:-}
if [ -n "$petrel" ] && [ -x "$petrel" ]; then
	if ! "$petrel" account show you@example.test -c "$conf" >/dev/null 2>&1; then
		printf 'petrel-dev' | "$petrel" account add you@example.test --password-stdin \
			-c "$conf" >/dev/null
		echo "dev-setup: added account you@example.test (password: petrel-dev)"
	fi
fi

cat <<TEXT

Petrel development setup in $dir (config: $conf)
  mx           127.0.0.1:10025  (local domains: example.test, localhost;
                                 postmaster@ each goes to you@example.test)
  submission   127.0.0.1:10587  (STARTTLS)
  submissions  127.0.0.1:10465  (implicit TLS, self-signed certificate)
  imap         127.0.0.1:10143  (STARTTLS)
  imaps        127.0.0.1:10993  (implicit TLS)
  http         127.0.0.1:10088  (the HTTP API, docs/http.md)
  https        127.0.0.1:10443  (implicit TLS)

Send a first message (in another terminal, once Petrel is running):
  swaks --server 127.0.0.1:10025 --to you@example.test --from me@example.org
It is delivered to the Maildir
  $dir/mail/example.test/you/new/
Log in and submit over STARTTLS (account you@example.test, password petrel-dev):
  swaks --server 127.0.0.1:10587 -tls --auth PLAIN --auth-user you@example.test \\
    --auth-password petrel-dev --from you@example.test --to you@example.test
Read the first message over IMAP (STARTTLS):
  curl --ssl-reqd --cacert $dir/tls/cert.pem -u you@example.test:petrel-dev \\
    'imap://127.0.0.1:10143/INBOX;UID=1'
TEXT
