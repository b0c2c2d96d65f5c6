"""One Postfix harness for the integration tests (peers.py) and the bench (bench/bench.py).

A Postfix instance with its own config, queue, data and mail folders under one folder:
smtpd on a loopback ADDR:PORT from master.cf, no chroot, no DNS, virtual(8) Maildir
delivery of every local part of DOMAIN into one Maildir (MAILBOX), and the rest by
relayhost if one is set.  The callers add their own main.cf settings (the tests
STARTTLS and fast retries, the bench no rate limits) and master.cf services.  Also
here: where Postfix's smtp-sink and smtp-source are (the package, or
scripts/get-postfix-tools.sh unpacking them without installing Postfix).

No pytest here: a missing Postfix raises PostfixUnavailable (the tests skip with its
reason, the bench reports it), a failed command PostfixError.
"""

import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class PostfixError(RuntimeError):
    pass


class PostfixUnavailable(PostfixError):
    pass


def postfix_tool(name):
    """(path, LD_LIBRARY_PATH or None) of smtp-sink or smtp-source: the installed
    package's, else unpacked once by scripts/get-postfix-tools.sh into the temp folder."""
    for p in (shutil.which(name), "/usr/sbin/" + name):
        if p and os.path.exists(p):
            return p, None
    d = os.path.join(tempfile.gettempdir(), "petrel-postfix-tools")
    script = os.path.join(REPO, "scripts", "get-postfix-tools.sh")
    exe = os.path.join(d, "usr", "sbin", name)
    if not os.path.exists(exe) and os.path.exists(script):
        subprocess.run(["sh", script, d], capture_output=True, timeout=300)
    if os.path.exists(exe):
        return exe, os.path.join(d, "usr", "lib", "postfix")
    raise PostfixUnavailable("%s not available (install postfix or run "
                             "scripts/get-postfix-tools.sh)" % name)


def children_by_parent():
    """{ppid: [pid, ...]} for every process, from one scan of /proc."""
    kids = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % name) as f:
                st = f.read()
            # field 4 is ppid; comm (field 2) may contain spaces: split after ')'
            rest = st[st.rindex(")") + 2:].split()
            kids.setdefault(int(rest[1]), []).append(int(name))
        except (OSError, ValueError, IndexError):
            continue
    return kids


def children_of(ppid):
    """PIDs whose parent is PPID (one scan of /proc)."""
    return children_by_parent().get(ppid, [])


def process_tree(root):
    """ROOT and all its descendants (one scan of /proc, however many there are)."""
    kids = children_by_parent()
    out, todo = [], [root]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(kids.get(p, ()))
    return out


def wait_banner(addr, port, timeout):
    """The 220 line of ADDR:PORT, polled until it answers; PostfixError after TIMEOUT."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((addr, port), timeout=2) as s:
                line = s.makefile("rb").readline().decode("latin-1").strip()
                s.sendall(b"QUIT\r\n")
            if line.startswith("220"):
                return line
            last = line
        except OSError as e:
            last = e
        time.sleep(0.1)
    raise PostfixError("no greeting from %s:%d within %gs (%s)" % (addr, port, timeout, last))


MASTER_CF = """\
# master.cf of a Petrel test or bench instance: no chroot; smtpd only on loopback.
{addr}  inet  n       -       n       -       -       smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
local     unix  -       n       n       -       -       local
virtual   unix  -       n       n       -       -       virtual
lmtp      unix  -       -       n       -       -       lmtp
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
"""


class PostfixServer:
    """One Postfix instance under FOLDER (see the module's text).  Set entries of
    .settings (main.cf) and append to .services (master.cf lines) before prepare()."""

    def __init__(self, folder, addr, port, domain, mailbox, hostname, uid, gid,
                 log_path=None):
        if not os.path.exists("/usr/sbin/postfix"):
            raise PostfixUnavailable("Postfix is not installed (/usr/sbin/postfix missing; "
                                     "apt-get install postfix)")
        try:
            pwd.getpwnam("postfix")
        except KeyError:
            raise PostfixUnavailable("Postfix is installed but there is no 'postfix' user")
        self.folder = str(folder)
        self.addr, self.port, self.domain = addr, port, domain
        self.conf = os.path.join(self.folder, "conf")
        self.queue = os.path.join(self.folder, "queue")
        self.data = os.path.join(self.folder, "data")
        self.mailbase = os.path.join(self.folder, "mail")
        self.maildir = os.path.join(self.mailbase, domain, mailbox)
        self.uid, self.gid = uid, gid
        self.log_path = str(log_path) if log_path else None
        self.started = False
        self.services = []
        self.settings = {
            "compatibility_level": "3.6",
            "config_directory": self.conf,
            "queue_directory": self.queue,
            "data_directory": self.data,
            "mail_owner": "postfix",
            "setgid_group": "postdrop",
            "myhostname": hostname,
            "mydomain": "postfix.test",
            "myorigin": "$myhostname",
            "mydestination": "",
            # must be an interface's own address (127.0.0.5 is only routed to lo):
            # smtpd binds ADDR:PORT from master.cf regardless
            "inet_interfaces": "127.0.0.1",
            "inet_protocols": "ipv4",
            "mynetworks": "127.0.0.0/8",
            "relayhost": "",
            "alias_maps": "",
            "alias_database": "",
            "local_recipient_maps": "",
            "biff": "no",
            "append_dot_mydomain": "no",
            # no DNS anywhere: no reverse lookup of the client, host lookups from files
            "smtpd_peername_lookup": "no",
            "smtp_host_lookup": "native",
            "smtp_dns_support_level": "disabled",
            "smtpd_client_restrictions": "",
            "smtpd_helo_restrictions": "",
            "smtpd_sender_restrictions": "",
            "smtpd_relay_restrictions": "permit_mynetworks, reject_unauth_destination",
            "smtpd_recipient_restrictions": "",
            "smtpd_client_connection_count_limit": "0",
            "smtpd_client_connection_rate_limit": "0",
            # virtual(8): every local part of DOMAIN into one Maildir
            "virtual_mailbox_domains": domain,
            "virtual_mailbox_base": self.mailbase,
            "virtual_mailbox_maps": "static:%s/%s/" % (domain, mailbox),
            "virtual_uid_maps": "static:%d" % uid,
            "virtual_gid_maps": "static:%d" % gid,
            "virtual_alias_maps": "",
            "virtual_mailbox_limit": "0",
            "message_size_limit": "10240000",
            "smtputf8_enable": "no",
        }
        if self.log_path:
            # postlogd writes only below the prefixes (default /var)
            self.settings["maillog_file_prefixes"] = os.path.dirname(self.log_path)
            self.settings["maillog_file"] = self.log_path

    def main_cf(self):
        return "".join("%s = %s\n" % kv for kv in self.settings.items())

    def master_cf(self):
        return (MASTER_CF.format(addr="%s:%d" % (self.addr, self.port)) +
                "".join(line + "\n" for line in self.services))

    def prepare(self):
        """The folders with their owners, main.cf and master.cf."""
        for d in (self.folder, self.conf, self.queue, self.data, self.mailbase):
            os.makedirs(d, exist_ok=True)
        # Postfix's daemons (postfix, nobody) must reach their folders
        for d in (self.folder, self.mailbase):
            os.chmod(d, 0o755)
        pw = pwd.getpwnam("postfix")
        os.chown(self.data, pw.pw_uid, pw.pw_gid)
        os.makedirs(os.path.join(self.mailbase, self.domain), exist_ok=True)
        os.chown(os.path.join(self.mailbase, self.domain), self.uid, self.gid)
        with open(os.path.join(self.conf, "main.cf"), "w") as f:
            f.write(self.main_cf())
        with open(os.path.join(self.conf, "master.cf"), "w") as f:
            f.write(self.master_cf())

    def run(self, argv, check=True, input=None):
        r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           timeout=60, input=input)
        if check and r.returncode != 0:
            raise PostfixError("%s failed (%d): %s\nlog:\n%s" % (
                " ".join(argv), r.returncode, r.stdout.strip(), self.log()[-3000:]))
        return r

    def start(self, check=False):
        """postfix start (with CHECK, `postfix check` first); the smtpd banner."""
        if check:
            self.run(["postfix", "-c", self.conf, "check"])
        self.run(["postfix", "-c", self.conf, "start"])
        self.started = True
        return wait_banner(self.addr, self.port, 30)

    def postconf(self, names):
        return self.run(["postconf", "-c", self.conf] + names, check=False).stdout.strip()

    def log(self):
        if not self.log_path:
            return ""
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def mail(self):
        """The messages in the Maildir's new/, oldest name first, as bytes."""
        d = os.path.join(self.maildir, "new")
        if not os.path.isdir(d):
            return []
        out = []
        for name in sorted(os.listdir(d)):
            with open(os.path.join(d, name), "rb") as f:
                out.append(f.read())
        return out

    def master_pid(self):
        try:
            with open(os.path.join(self.queue, "pid", "master.pid")) as f:
                return int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def pids(self):
        m = self.master_pid()
        return [m] + children_of(m) if m else []

    def queue_empty(self):
        for sub in ("incoming", "active", "deferred", "maildrop", "hold"):
            for _root, _dirs, files in os.walk(os.path.join(self.queue, sub)):
                if files:
                    return False
        return True

    def stop(self):
        """postfix stop, a bounded wait for the master, then SIGKILL to what is left."""
        if not self.started:
            return
        self.started = False
        m = self.master_pid()
        try:
            self.run(["postfix", "-c", self.conf, "stop"], check=False)
        except (OSError, subprocess.TimeoutExpired):
            pass
        deadline = time.monotonic() + 10
        while m and time.monotonic() < deadline:
            try:
                os.kill(m, 0)
            except ProcessLookupError:
                return
            time.sleep(0.1)
        if m:
            for p in [m] + children_of(m):
                try:
                    os.kill(p, signal.SIGKILL)
                except ProcessLookupError:
                    pass
