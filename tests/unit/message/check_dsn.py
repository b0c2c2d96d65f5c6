#!/usr/bin/python3
"""Check a DSN written by dsn_build (tests/unit/message/test-dsn.c).

usage: check_dsn.py FILE [--delay] [--hdrs] [--global] [--envid ID]
                         [--rcpt 'final|action|status|orcpt|diagnostic']...

Parses FILE with Python's email package (policy.default) and exits non-zero,
saying why, unless: neither the message nor any part has defects; it is a
multipart/report; report-type=delivery-status with three parts (text/plain,
message/delivery-status or message/global-delivery-status, the original);
the delivery-status part parses into one per-message block and one block per
recipient with the expected Final-Recipient, Action, Status, Original-Recipient
and Diagnostic-Code; Auto-Submitted is auto-replied; every line ends in CRLF
and is at most 998 octets.
"""
import argparse
import email
import email.errors
import email.parser
import email.policy
import email.utils
import sys

failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
    return cond


def unfold(value):
    return " ".join(str(value).split())


def expected_diagnostic(diag):
    # dsn_build cuts a single token longer than 900 bytes and marks it "..."
    return " ".join(t if len(t.encode()) <= 900 else t.encode()[:900].decode("utf-8", "ignore") + "..."
                    for t in diag.split())


def raw_part_bodies(data, boundary):
    """The raw bytes of each body part, split at the delimiters (RFC 2046 5.1.1)."""
    delim = b"\r\n--" + boundary.encode()
    pieces = data.split(delim)
    bodies = []
    for piece in pieces[1:]:
        if piece.startswith(b"--"):
            break
        # skip the rest of the delimiter line, then the part's header section
        piece = piece.split(b"\r\n", 1)[1]
        bodies.append(piece.split(b"\r\n\r\n", 1)[1] if not piece.startswith(b"\r\n")
                      else piece[2:])
    return bodies


def status_blocks(raw):
    """Field blocks of a delivery-status body: separated by empty lines."""
    parser = email.parser.BytesHeaderParser(policy=email.policy.default)
    blocks = [b for b in raw.split(b"\r\n\r\n") if b.strip(b"\r\n")]
    return [parser.parsebytes(b + b"\r\n\r\n") for b in blocks]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("file")
    ap.add_argument("--delay", action="store_true")
    ap.add_argument("--hdrs", action="store_true")
    ap.add_argument("--global", dest="utf8", action="store_true")
    ap.add_argument("--envid")
    ap.add_argument("--rcpt", action="append", default=[])
    args = ap.parse_args()
    with open(args.file, "rb") as f:
        data = f.read()

    # CRLF everywhere, lines within RFC 5322 2.1.1's 998 octets
    check(data.endswith(b"\r\n"), "does not end in CRLF")
    for n, line in enumerate(data.split(b"\r\n")):
        check(b"\n" not in line and b"\r" not in line, "bare CR or LF in line %d" % (n + 1))
        check(len(line) <= 998, "line %d is %d octets" % (n + 1, len(line)))

    if args.utf8:
        # RFC 6532 puts raw UTF-8 in header fields.  message_from_bytes reads
        # header bytes as ASCII (UndecodableBytesDefect on every one), so parse
        # the decoded text instead; and Python's address parser flags any
        # non-ASCII local part (NonASCIILocalPartDefect) whatever the policy,
        # so that one defect, and only that one, is allowed here.
        # The structure and the bodies are checked on the bytes parse below.
        dmsg = email.message_from_string(data.decode("utf-8"), policy=email.policy.default)
        allowed = (email.errors.NonASCIILocalPartDefect,)
    else:
        dmsg = email.message_from_bytes(data, policy=email.policy.default)
        allowed = ()
    msg = email.message_from_bytes(data, policy=email.policy.default)

    def real(defects):
        return [d for d in defects if not isinstance(d, allowed)]

    check(real(dmsg.defects) == [], "message defects: %r" % dmsg.defects)
    for part in dmsg.walk():
        check(real(part.defects) == [], "defects in %s: %r" % (part.get_content_type(), part.defects))
        for name, value in part.items():
            check(real(getattr(value, "defects", ())) == [],
                  "defects in header %s: %r" % (name, getattr(value, "defects", ())))

    check(msg.get_content_type() == "multipart/report", "type %s" % msg.get_content_type())
    check(msg.get_param("report-type") == "delivery-status", "report-type")
    check(msg["MIME-Version"] == "1.0", "MIME-Version")
    check(msg["Auto-Submitted"] == "auto-replied", "Auto-Submitted: %r" % msg["Auto-Submitted"])
    check(str(msg["From"]).startswith("Mail Delivery System <"), "From: %r" % msg["From"])
    check(msg["To"] is not None, "no To")
    check(msg["Message-ID"] is not None and str(msg["Message-ID"]).startswith("<"), "Message-ID")
    check(email.utils.parsedate_to_datetime(str(msg["Date"])) is not None, "Date")
    subject = "Delayed Mail (still being retried)" if args.delay else \
        "Undelivered Mail Returned to Sender"
    check(msg["Subject"] == subject, "Subject %r" % msg["Subject"])
    boundary = msg.get_boundary()
    check(boundary is not None, "no boundary")

    parts = msg.get_payload()
    if not check(isinstance(parts, list) and len(parts) == 3, "expected 3 parts"):
        return
    text, status, original = parts
    check(text.get_content_type() == "text/plain", "part 1 %s" % text.get_content_type())
    check(text.get_content_charset() == "utf-8", "part 1 charset")
    body = text.get_content()
    for spec in args.rcpt:
        final = spec.split("|")[0]
        if final.startswith("rfc822; ") or args.utf8:
            check("<" + final.split("; ", 1)[1] + ">" in body, "%s missing from the text" % final)

    ds_type = "message/global-delivery-status" if args.utf8 else "message/delivery-status"
    check(status.get_content_type() == ds_type, "part 2 %s" % status.get_content_type())
    raw = raw_part_bodies(data, boundary)
    check(len(raw) == 3, "raw parts: %d" % len(raw))
    blocks = status_blocks(raw[1])
    if not args.utf8:
        # Python parses message/delivery-status itself: it must agree
        py_blocks = status.get_payload()
        check(isinstance(py_blocks, list) and len(py_blocks) == len(blocks),
              "Python sees %d blocks, expected %d" % (len(py_blocks), len(blocks)))
        for a, b in zip(py_blocks, blocks):
            check(sorted(a.keys()) == sorted(b.keys()), "blocks differ: %r %r" % (a.keys(), b.keys()))
    if not check(len(blocks) == 1 + len(args.rcpt),
                 "%d status blocks, expected %d" % (len(blocks), 1 + len(args.rcpt))):
        return
    per_msg = blocks[0]
    check(str(per_msg["Reporting-MTA"]).startswith("dns; "), "Reporting-MTA")
    check(per_msg["Arrival-Date"] is not None and
          email.utils.parsedate_to_datetime(str(per_msg["Arrival-Date"])) is not None, "Arrival-Date")
    if args.envid:
        check(per_msg["Original-Envelope-Id"] == args.envid, "Original-Envelope-Id")
    for block, spec in zip(blocks[1:], args.rcpt):
        final, action, status_code, orcpt, diag = (spec.split("|") + [""] * 5)[:5]
        check(unfold(block["Final-Recipient"]) == final,
              "Final-Recipient %r, expected %r" % (block["Final-Recipient"], final))
        check(block["Action"] == action, "Action %r" % block["Action"])
        check(block["Status"] == status_code, "Status %r" % block["Status"])
        if orcpt:
            check(block["Original-Recipient"] == orcpt, "Original-Recipient %r" % block["Original-Recipient"])
        else:
            check(block["Original-Recipient"] is None, "unexpected Original-Recipient")
        if diag:
            check(unfold(block["Diagnostic-Code"]) == "smtp; " + expected_diagnostic(diag),
                  "Diagnostic-Code %r" % unfold(block["Diagnostic-Code"]))
        if action == "delayed":
            check(block["Will-Retry-Until"] is not None, "no Will-Retry-Until")
        else:
            check(block["Will-Retry-Until"] is None, "Will-Retry-Until on %s" % action)

    if args.hdrs:
        check(original.get_content_type() == "text/rfc822-headers", "part 3 %s" % original.get_content_type())
        headers = email.parser.BytesHeaderParser(policy=email.policy.default).parsebytes(raw[2])
        check(headers["Subject"] is not None, "no Subject in the returned headers")
    else:
        want = "message/global" if args.utf8 else "message/rfc822"
        check(original.get_content_type() == want, "part 3 %s" % original.get_content_type())
        inner = original.get_payload(0) if original.is_multipart() else None
        check(inner is not None and inner["Subject"] is not None, "no original message")


if __name__ == "__main__":
    try:
        main()
    except Exception as e:  # a crash is a failure too, with its reason
        failures.append("exception: %r" % e)
    for f in failures:
        print("check_dsn: " + f, file=sys.stderr)
    sys.exit(1 if failures else 0)
