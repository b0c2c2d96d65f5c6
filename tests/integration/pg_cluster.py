"""A throwaway PostgreSQL cluster for tests (Debian's postgresql package): initdb and
pg_ctl into a temporary folder, listening only on a unix socket there (no port to
collide with), trust authentication for the user petrel, stopped at the end.  As root
(initdb refuses root) it runs as the postgres user.  If it cannot start, the test fails:
there is no silent skip."""
import glob
import os
import shutil
import subprocess
import tempfile

import pytest


def _bindir():
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        pytest.fail("no initdb: install postgresql (scripts/install-deps.sh)", pytrace=False)
    return os.path.dirname(found[-1])


class Cluster:
    def __init__(self):
        self.bin = _bindir()
        self.dir = tempfile.mkdtemp(prefix="petrel-pg-")
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
            pytest.fail("%s: exit %d\n%s%s%s" % (" ".join(args), r.returncode, r.stdout,
                                                 r.stderr, tail), pytrace=False)
        return r

    def start(self):
        if not os.path.exists(self.data):
            self._run(os.path.join(self.bin, "initdb"), "-D", self.data, "-U", "petrel",
                      "--auth=trust", "-E", "UTF8")
        self._run(os.path.join(self.bin, "pg_ctl"), "-D", self.data, "-w", "-t", "120",
                  "-l", os.path.join(self.dir, "server.log"),
                  "-o", "-c listen_addresses= -k %s -c fsync=off" % self.dir, "start")
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
        assert r.returncode == 0, "psql %r: %s" % (sql, r.stderr)
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
