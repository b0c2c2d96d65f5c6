"""A small authoritative DNS server (python3-dnslib) for the SPF tests, serving a zone
written as the openspf test suite writes it (rfc7208-tests.yml's `zonedata`):

    {"example.com": [{"TXT": "v=spf1 -all"}, {"A": "192.0.2.1"}, "TIMEOUT"], ...}

with the test suite driver's rules (pyspf's testspf.py):
- an "SPF" entry is served as type SPF (99) and, when the name has no TXT entry, also
  as TXT (the suite says drivers duplicate them); `TXT: NONE` means no TXT records;
- a TXT or SPF value that is a list is one record of several strings, kept apart;
- "TIMEOUT" in a name's list: queries of a type with no record listed before it are
  never answered; a name starting with "error." that is not in the zone times out too;
- a name not in the zone is NXDOMAIN, a type not listed NODATA;
- a CNAME is answered with the CNAME and the target's records of the type asked.
It answers on UDP and TCP on one loopback port, from a thread; with DELAY seconds,
every UDP answer is sent that late (from a timer thread).
"""

import errno
import selectors
import socket
import struct
import threading

from dnslib import AAAA, CNAME, EDNS0, MX, PTR, QTYPE, RCODE, RR, TXT, A, DNSRecord


class SPF(TXT):
    """Type 99 has TXT's wire format."""


def _txt_strings(value):
    strings = value if isinstance(value, list) else [value]
    out = []
    for s in strings:
        b = s.encode("utf-8") if isinstance(s, str) else bytes(s)
        # one character-string holds at most 255 octets
        out.extend([b[i:i + 255] for i in range(0, len(b), 255)] or [b""])
    return out


def load_zone(zonedata):
    """NAME (lower case, no trailing dot) -> list of (TYPE, VALUE) or "TIMEOUT"."""
    zone = {}
    for name, entries in zonedata.items():
        rrs, generated, has_txt = [], [], False
        for entry in entries:
            if entry == "TIMEOUT":
                rrs.append("TIMEOUT")
                continue
            for rtype, value in entry.items():
                if rtype == "TXT":
                    has_txt = True
                    if value == "NONE":
                        continue
                elif rtype == "SPF":
                    generated.append(("TXT", value))
                rrs.append((rtype, value))
        if not has_txt:
            rrs.extend(generated)
        zone[name.lower().rstrip(".")] = rrs
    return zone


def _rdata(rtype, value):
    if rtype == "A":
        return QTYPE.A, A(value)
    if rtype == "AAAA":
        return QTYPE.AAAA, AAAA(value)
    if rtype == "MX":
        pref, host = value
        return QTYPE.MX, MX(host if host else ".", pref)
    if rtype == "PTR":
        return QTYPE.PTR, PTR(value)
    if rtype == "CNAME":
        return QTYPE.CNAME, CNAME(value)
    if rtype == "TXT":
        return QTYPE.TXT, TXT(_txt_strings(value))
    if rtype == "SPF":
        return 99, SPF(_txt_strings(value))
    raise ValueError("unknown record type %r" % rtype)


class ZoneServer:
    def __init__(self, zonedata, host="127.0.0.1", delay=0):
        self.zone = load_zone(zonedata)
        self.delay = delay
        self.queries = []          # (name, type) in arrival order
        self.udp, self.tcp = self._bind_pair(host)
        self.port = self.udp.getsockname()[1]
        self.tcp.listen(16)
        self.stop_r, self.stop_w = socket.socketpair()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    @staticmethod
    def _bind_pair(host):
        """A UDP and a TCP socket on one free port: the port the kernel picks for UDP
        may be taken for TCP by a test running beside this one, so try again then."""
        for _ in range(100):
            udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            udp.bind((host, 0))
            tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                tcp.bind((host, udp.getsockname()[1]))
                return udp, tcp
            except OSError as e:
                udp.close()
                tcp.close()
                if e.errno != errno.EADDRINUSE:
                    raise
        raise OSError(errno.EADDRINUSE, "no port free for both UDP and TCP")

    def _send_late(self, out, addr):
        """A delayed answer: the test may have ended and closed the socket meanwhile."""
        try:
            self.udp.sendto(out, addr)
        except OSError:
            pass

    # ---- answers

    def answer(self, query):
        """The reply to QUERY (a DNSRecord), or None to stay silent (TIMEOUT)."""
        q = query.q
        # the labels' own octets: str() would write spaces and the like escaped
        key = b".".join(q.qname.label).decode("latin-1").lower()
        self.queries.append((key, QTYPE.get(q.qtype)))
        reply = query.reply()
        reply.header.rd = query.header.rd
        reply.header.ra = 1
        if key not in self.zone:
            if key.startswith("error."):
                return None
            reply.header.rcode = RCODE.NXDOMAIN
            return reply
        qtype = QTYPE.get(q.qtype)
        entries = self.zone[key]
        cname = [v for t, v in (e for e in entries if e != "TIMEOUT") if t == "CNAME"]
        if cname and qtype != "CNAME":
            reply.add_answer(RR(q.qname, QTYPE.CNAME, rdata=CNAME(cname[0]), ttl=60))
            target = cname[0].lower().rstrip(".")
            if target != key and target in self.zone:
                for t, v in (e for e in self.zone[target] if e != "TIMEOUT"):
                    if t == qtype:
                        rt, rd = _rdata(t, v)
                        reply.add_answer(RR(cname[0], rt, rdata=rd, ttl=60))
            return reply
        seen = False
        for entry in entries:
            if entry == "TIMEOUT":
                if not seen:
                    return None
                break
            t, v = entry
            if t != qtype:
                continue
            if v == "TIMEOUT":
                return None
            seen = True
            rt, rd = _rdata(t, v)
            reply.add_answer(RR(q.qname, rt, rdata=rd, ttl=60))
        return reply

    # ---- transport

    def _serve(self):
        sel = selectors.DefaultSelector()
        sel.register(self.udp, selectors.EVENT_READ, "udp")
        sel.register(self.tcp, selectors.EVENT_READ, "tcp")
        sel.register(self.stop_r, selectors.EVENT_READ, "stop")
        while True:
            for key, _ in sel.select():
                if key.data == "stop":
                    sel.close()
                    return
                if key.data == "udp":
                    data, addr = self.udp.recvfrom(65535)
                    out = self._handle(data, udp=True)
                    if out is not None and self.delay:
                        timer = threading.Timer(self.delay, self._send_late, (out, addr))
                        timer.daemon = True
                        timer.start()
                    elif out is not None:
                        self.udp.sendto(out, addr)
                else:
                    conn, _ = self.tcp.accept()
                    threading.Thread(target=self._serve_tcp, args=(conn,),
                                     daemon=True).start()

    def _serve_tcp(self, conn):
        conn.settimeout(10)
        try:
            while True:
                head = conn.recv(2, socket.MSG_WAITALL)
                if len(head) < 2:
                    return
                (n,) = struct.unpack("!H", head)
                data = conn.recv(n, socket.MSG_WAITALL)
                out = self._handle(data, udp=False)
                if out is None:
                    return
                conn.sendall(struct.pack("!H", len(out)) + out)
        except OSError:
            return
        finally:
            conn.close()

    def _handle(self, data, udp):
        try:
            query = DNSRecord.parse(data)
        except Exception:
            return None
        reply = self.answer(query)
        if reply is None:
            return None
        limit = 512
        for ar in query.ar:
            if ar.rtype == QTYPE.OPT:
                limit = max(512, ar.rclass)
                reply.add_ar(EDNS0(udp_len=limit))
        out = reply.pack()
        if udp and len(out) > limit:
            reply.rr = []
            reply.header.tc = 1
            out = reply.pack()
        return out

    def close(self):
        self.stop_w.send(b"x")
        self.thread.join(5)
        for s in (self.udp, self.tcp, self.stop_r, self.stop_w):
            s.close()


__all__ = ["ZoneServer", "load_zone"]
