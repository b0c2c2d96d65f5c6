#!/usr/bin/python3
"""The MIME corpus of tests/unit/message/test-mime.c, and Python's view of it.

usage: mime_corpus.py generate DIR   write the generated messages to DIR
       mime_corpus.py dump FILE      print the structure Python's email
                                     package sees in FILE

generate writes gen-NNN.eml: random trees (fixed seed) of multipart/mixed,
alternative, related and digest, message/rfc822, text and binary leaves in
7bit, 8bit, quoted-printable and base64, file names in RFC 2231 form, with
CRLF or LF line ends, preambles and epilogues, transport padding after
boundary lines, folded header fields, bodies with and without a final line
break, empty bodies, and now and then no close delimiter.

dump prints one line per part, depth first (message/rfc822 parts have their
message as only child), in the form test-mime.c prints its own tree:
  DEPTH TYPE/SUBTYPE -                                      (container)
  DEPTH TYPE/SUBTYPE raw=SHA256 dec=SHA256 fn=HEX cs=CHARSET  (leaf)
raw is the body as written, dec the transfer-decoded body, fn the file name
(Content-Disposition filename, else Content-Type name; RFC 2231 decoded) as
UTF-8 hex or "-", cs the lower-cased charset parameter or "-".
"""
import base64
import email
import email.policy
import hashlib
import os
import quopri
import random
import sys

WORDS = ("lorem ipsum dolor sit amet caf\u00e9 na\u00efve \u20ac100 \u65e5\u672c "
         "= == =3D tab\there trailing  x" ).split(" ")


def text(rnd, lines):
    out = []
    for _ in range(lines):
        out.append(" ".join(rnd.choice(WORDS) for _ in range(rnd.randint(0, 14))))
    return "\n".join(out)


def leaf(rnd, nl):
    kind = rnd.choice(["plain", "plain", "html", "binary", "ascii"])
    headers = []
    if kind == "binary":
        data = bytes(rnd.randrange(256) for _ in range(rnd.randint(0, 300)))
        name = rnd.choice(["report.pdf", "caf\u00e9 menu.txt", "\u20ac.bin", "a b;c.dat"])
        if name.isascii():
            headers.append('Content-Type: application/octet-stream; name="%s"' % name)
            headers.append('Content-Disposition: attachment; filename="%s"' % name)
        else:
            q = "".join(c if c.isalnum() and c.isascii() else "%%%02X" % b
                        for c in name for b in c.encode())
            headers.append("Content-Type: application/octet-stream")
            if rnd.random() < 0.5:
                headers.append("Content-Disposition: attachment;%s filename*=utf-8''%s" % (nl + " ", q))
            else:
                half = len(q) // 2
                while "%" in q[half - 2:half]:
                    half += 1
                headers.append("Content-Disposition: attachment; filename*0*=utf-8''%s;%s filename*1*=%s"
                               % (q[:half], nl + "\t", q[half:]))
        headers.append("Content-Transfer-Encoding: base64")
        body = base64.encodebytes(data).decode().replace("\n", nl)
        if rnd.random() < 0.3:
            body = body.rstrip(nl)
        return headers, body
    sub = "html" if kind == "html" else "plain"
    raw = text(rnd, rnd.randint(0, 8))
    if sub == "html":
        raw = "<p>" + raw.replace("\n", "</p>\n<p>") + "</p>"
    if kind == "ascii":
        raw = raw.encode("ascii", "replace").decode()
        headers.append("Content-Type: text/plain; charset=us-ascii")
        enc = rnd.choice(["7bit", None])
    else:
        headers.append('Content-Type: text/%s;%s charset="utf-8"' % (sub, rnd.choice([" ", nl + " "])))
        enc = rnd.choice(["quoted-printable", "base64", "8bit"])
    if enc:
        headers.append("Content-Transfer-Encoding: " + enc)
    data = raw.encode()
    if enc == "quoted-printable":
        body = quopri.encodestring(data).decode()
    elif enc == "base64":
        body = base64.encodebytes(data).decode()
    else:
        body = raw
    body = body.replace("\n", nl)
    if rnd.random() < 0.5 and not body.endswith(nl):
        body += nl
    return headers, body


def entity(rnd, nl, depth, counter):
    """(headers, body) of a random entity"""
    counter[0] += 1
    r = rnd.random()
    if depth < 4 and r < 0.35:
        sub = rnd.choice(["mixed", "mixed", "alternative", "related", "digest"])
        boundary = rnd.choice(["b%d" % counter[0], "----=_Part_%d_%d.%d" % (counter[0], depth, rnd.randrange(99)),
                               "=_%d'()+_,-./:=?" % counter[0]])
        headers = ['Content-Type: multipart/%s;%sboundary="%s"' % (sub, rnd.choice([" ", nl + "\t"]), boundary)]
        parts = []
        for _ in range(rnd.randint(1, 4)):
            if sub == "digest" and rnd.random() < 0.7:
                h, b = message(rnd, nl, depth + 1, counter)
                parts.append((h, b))  # a digest part without Content-Type: message/rfc822
            else:
                parts.append(entity(rnd, nl, depth + 1, counter))
        body = ""
        if rnd.random() < 0.5:
            body += "This is a multi-part message in MIME format." + nl
        for h, b in parts:
            pad = rnd.choice(["", "", " ", " \t "])
            body += "--" + boundary + pad + nl + nl.join(h) + nl + nl + b + nl
        if rnd.random() < 0.9 or depth == 0:
            body += "--" + boundary + "--" + rnd.choice(["", " "]) + nl
            if rnd.random() < 0.4:
                body += "epilogue text" + nl
        return headers, body
    if depth < 4 and r < 0.45:
        h, b = message(rnd, nl, depth + 1, counter)
        return ["Content-Type: message/rfc822"], nl.join(h) + nl + nl + b
    return leaf(rnd, nl)


def message(rnd, nl, depth, counter):
    headers = ["From: a@example.org", "Subject: test %d" % counter[0], "MIME-Version: 1.0"]
    h, b = entity(rnd, nl, depth, counter)
    return headers + h, b


def generate(folder, count=60):
    rnd = random.Random(2045)
    for n in range(count):
        nl = "\r\n" if n % 2 == 0 else "\n"
        h, b = message(rnd, nl, 0, [0])
        data = (nl.join(h) + nl + nl + b).encode()
        with open(os.path.join(folder, "gen-%03d.eml" % n), "wb") as f:
            f.write(data)


def sha(data):
    return hashlib.sha256(data or b"").hexdigest()


def dump(msg, depth, out):
    line = "%d %s" % (depth, msg.get_content_type())
    if msg.is_multipart():
        out.append(line + " -")
        for sub in msg.get_payload():
            dump(sub, depth + 1, out)
        return
    # the payload as parsed (get_payload() would decode 8-bit text)
    raw = msg._payload.encode("ascii", "surrogateescape")
    dec = msg.get_payload(decode=True)
    fn = msg.get_filename()
    fn = fn.encode().hex() if fn else "-"
    cs = msg.get_param("charset") if "content-type" in msg else None
    cs = email.utils.collapse_rfc2231_value(cs).lower() if cs else "-"
    out.append("%s raw=%s dec=%s fn=%s cs=%s" % (line, sha(raw), sha(dec), fn, cs))


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "generate":
        generate(sys.argv[2])
    elif len(sys.argv) == 3 and sys.argv[1] == "dump":
        with open(sys.argv[2], "rb") as f:
            msg = email.message_from_bytes(f.read(), policy=email.policy.compat32)
        out = []
        dump(msg, 0, out)
        print("\n".join(out))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
