#!/usr/bin/python3
"""fake_smtp.py - a programmable SMTP server for the delivery client tests.

Serves on a loopback address; writes one JSON line per event to --log
(connect with the number of concurrent connections, each command line, each
message, TLS, close), so a test can count connections and check what was
sent.  Only what smtp-sink cannot do lives here: STARTTLS, implicit TLS,
AUTH, SIZE limits, custom EHLO extensions and chosen replies.

  fake_smtp.py --listen 127.0.0.2:2525 --log FILE [--ext "SIZE 100"]...
     [--starttls CERT KEY] [--implicit CERT KEY] [--auth USER:PASS]
     [--reply CMD=REPLY]... [--dot-delay SECONDS] [--no-ehlo]
CMD is GREETING, EHLO, MAIL, RCPT, RCPT:<address>, DATA or DOT.
"""
import argparse
import asyncio
import base64
import json
import ssl
import sys

state = {"concurrent": 0, "conn": 0}


def log(args, **event):
    with open(args.log, "a") as f:
        f.write(json.dumps(event) + "\n")


async def handle(reader, writer, args):
    state["conn"] += 1
    state["concurrent"] += 1
    cid = state["conn"]
    log(args, event="connect", conn=cid, concurrent=state["concurrent"])
    tls = args.implicit is not None
    replies = dict(r.split("=", 1) for r in args.reply)

    async def send(line):
        writer.write(line.encode() + b"\r\n")
        await writer.drain()

    async def readline():
        line = await reader.readline()
        if not line:
            raise ConnectionError("eof")
        return line.decode("utf-8", "replace").rstrip("\r\n")

    try:
        await send(replies.get("GREETING", "220 fake.test ESMTP"))
        if not replies.get("GREETING", "220").startswith("220"):
            await readline()
            return
        rcpts = []
        authed = False
        while True:
            line = await readline()
            log(args, event="cmd", conn=cid, line=line, tls=tls)
            verb = line.split(" ", 1)[0].upper()
            if verb == "EHLO":
                if args.no_ehlo:
                    await send("502 5.5.2 EHLO not understood")
                    continue
                if "EHLO" in replies:
                    await send(replies["EHLO"])
                    continue
                exts = list(args.ext)
                if args.starttls and not tls:
                    exts.append("STARTTLS")
                if args.auth:
                    exts.append("AUTH PLAIN LOGIN" if not args.login_only else "AUTH LOGIN")
                lines = ["fake.test"] + exts
                for i, e in enumerate(lines):
                    await send(("250 " if i == len(lines) - 1 else "250-") + e)
            elif verb == "HELO":
                await send("250 fake.test")
            elif verb == "STARTTLS":
                ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
                ctx.load_cert_chain(args.starttls[0], args.starttls[1])
                await send("220 2.0.0 go ahead")
                await writer.start_tls(ctx)
                tls = True
                log(args, event="tls", conn=cid)
            elif verb == "AUTH":
                parts = line.split()
                user = pw = None
                if parts[1].upper() == "PLAIN":
                    raw = base64.b64decode(parts[2]).split(b"\0")
                    user, pw = raw[1].decode(), raw[2].decode()
                else:
                    await send("334 VXNlcm5hbWU6")
                    user = base64.b64decode(await readline()).decode()
                    await send("334 UGFzc3dvcmQ6")
                    pw = base64.b64decode(await readline()).decode()
                log(args, event="auth", conn=cid, user=user, mech=parts[1].upper(), tls=tls)
                if f"{user}:{pw}" == args.auth:
                    authed = True
                    await send("235 2.7.0 ok")
                else:
                    await send("535 5.7.8 bad credentials")
            elif verb == "MAIL":
                if args.auth and not authed:
                    await send("530 5.7.0 auth first")
                    continue
                rcpts = []
                await send(replies.get("MAIL", "250 2.1.0 ok"))
            elif verb == "RCPT":
                addr = line[line.find("<") + 1:line.find(">")]
                r = replies.get("RCPT:" + addr, replies.get("RCPT", "250 2.1.5 ok"))
                if r.startswith("2"):
                    rcpts.append(addr)
                await send(r)
            elif verb == "DATA":
                r = replies.get("DATA", "354 go")
                await send(r)
                if not r.startswith("354"):
                    continue
                data = []
                while True:
                    l = await reader.readline()
                    if not l:
                        raise ConnectionError("eof in data")
                    if l == b".\r\n":
                        break
                    data.append(l.decode("utf-8", "replace"))
                log(args, event="message", conn=cid, rcpts=rcpts, data="".join(data))
                if args.dot_delay:
                    await asyncio.sleep(args.dot_delay)
                await send(replies.get("DOT", "250 2.0.0 queued"))
            elif verb == "RSET":
                await send("250 2.0.0 ok")
            elif verb == "NOOP":
                await send("250 2.0.0 ok")
            elif verb == "QUIT":
                await send("221 2.0.0 bye")
                return
            else:
                await send("502 5.5.2 unknown")
    except (ConnectionError, ssl.SSLError, OSError) as e:
        log(args, event="error", conn=cid, error=str(e))
    finally:
        state["concurrent"] -= 1
        log(args, event="close", conn=cid)
        try:
            writer.close()
        except Exception:
            pass


async def main():
    p = argparse.ArgumentParser()
    p.add_argument("--listen", required=True)
    p.add_argument("--log", required=True)
    p.add_argument("--ext", action="append", default=[])
    p.add_argument("--reply", action="append", default=[])
    p.add_argument("--starttls", nargs=2)
    p.add_argument("--implicit", nargs=2)
    p.add_argument("--auth")
    p.add_argument("--login-only", action="store_true")
    p.add_argument("--no-ehlo", action="store_true")
    p.add_argument("--dot-delay", type=float, default=0)
    args = p.parse_args()
    host, port = args.listen.rsplit(":", 1)
    sslctx = None
    if args.implicit:
        sslctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        sslctx.load_cert_chain(args.implicit[0], args.implicit[1])
    server = await asyncio.start_server(lambda r, w: handle(r, w, args), host, int(port),
                                        ssl=sslctx)
    log(args, event="listening")
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(0)
