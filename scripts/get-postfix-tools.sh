#!/bin/sh
# get-postfix-tools.sh DIR - unpack Postfix's smtp-source and smtp-sink into DIR without
# installing Postfix: `apt-get download postfix` + `dpkg-deb -x`.  Prints the directory that
# holds smtp-source.  Run the tools with LD_LIBRARY_PATH=DIR/usr/lib/postfix.
# Cached: does nothing but print if DIR already holds smtp-source.
set -eu

dir=${1:?usage: get-postfix-tools.sh DIR}
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)

find_tool() {
    for d in "$dir/usr/sbin" "$dir/usr/bin" "$dir/usr/lib/postfix/sbin"; do
        if [ -x "$d/smtp-source" ]; then
            echo "$d"
            return 0
        fi
    done
    return 1
}

if find_tool; then
    exit 0
fi

tmp=$(mktemp -d)
chmod 755 "$tmp"
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && apt-get download postfix >/dev/null)
deb=$(ls "$tmp"/postfix_*.deb)
dpkg-deb -x "$deb" "$dir"
find_tool || { echo "get-postfix-tools: smtp-source not found in $deb" >&2; exit 1; }
