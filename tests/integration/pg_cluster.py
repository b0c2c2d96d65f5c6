"""A throwaway PostgreSQL cluster for tests (Debian's postgresql package): initdb and
pg_ctl into a temporary folder, listening only on a unix socket there (no port to
collide with), trust authentication for the user petrel, stopped at the end.  As root
(initdb refuses root) it runs as the postgres user.  If it cannot start, the test fails:
there is no silent skip.  bench/scaleout.py makes its durable cluster with the same class."""
import glob
import os
import shutil
import subprocess
import tempfile

import pytest


def fail_the_test(message):
    """The default report of a cluster that cannot be made: the test fails with MESSAGE."""
    pytest.fail(message, pytrace=False)


def _bindir(fail):
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        fail("no initdb: install postgresql (scripts/install-deps.sh)")
    return os.path.dirname(found[-1])


class Cluster:
    def __init__(self, parent=None, options="-c fsync=off", fail=fail_the_test):
        """A cluster in a new folder under PARENT (default: the system's temporary folder),
        started with the server settings OPTIONS (default: fsync off, for speed); FAIL(message)
        reports an initdb, pg_ctl or psql that failed (default: the test fails)."""
        self.fail = fail
        self.options = options
        self.bin = _bindir(fail)
        self.dir = tempfile.mkdtemp(prefix="petrel-pg-", dir=parent)
        os.chmod(self.dir, 0o755)
        self.run_as = []
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres")
            self.run_as = ["runuser", "-u", "postgres", "--"]
        self.data = os.path.join(self.dir, "data")
        self.started = False

    def _run(self, *args, check=True):
        r = subprocess.run(self.run_as + list(args), capture_output=True, text=True,
                           timeout=120, stdin=subprocess.DEVNULL)
        if check and r.returncode != 0:
            log = os.path.join(self.dir, "server.log")
            tail = open(log).read()[-3000:] if os.path.exists(log) else ""
            self.fail("%s: exit %d\n%s%s%s" % (" ".join(args), r.returncode, r.stdout,
                                               r.stderr, tail))
        return r

    def start(self):
        if not os.path.exists(self.data):
            self._run(os.path.join(self.bin, "initdb"), "-D", self.data, "-U", "petrel",
                      "--auth=trust", "-E", "UTF8")
        self._run(os.path.join(self.bin, "pg_ctl"), "-D", self.data, "-w", "-t", "120",
                  "-l", os.path.join(self.dir, "server.log"),
                  "-o", "-c listen_addresses= -k %s %s" % (self.dir, self.options), "start")
        self.started = True

    def stop(self):
        if self.started:
            self._run(os.path.join(self.bin, "pg_ctl"), "-D", self.data, "-m", "fast", "-w",
                      "stop", check=False)
            self.started = False

    def url(self, db="postgres"):
        return "postgresql://petrel@/%s?host=%s" % (db, self.dir)

    def psql(self, sql, db="postgres"):
        """SQL's rows as text (psql -At), or the test fails."""
        r = subprocess.run(["psql", "-X", "-At", "-v", "ON_ERROR_STOP=1", "-h", self.dir,
                            "-U", "petrel", "-d", db, "-c", sql], capture_output=True,
                           text=True, timeout=60, stdin=subprocess.DEVNULL)
        if r.returncode != 0:
            self.fail("psql %r: %s" % (sql, r.stderr))
        return r.stdout.strip()

    def create_database(self, name):
        self.psql('CREATE DATABASE "%s"' % name)
        return self.url(name)

    def remove(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="module")
def pg_cluster():
    c = Cluster()
    try:
        c.start()
        yield c
    finally:
        c.remove()
