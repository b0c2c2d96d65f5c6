"""Least privilege (DESIGN): started as root with `user = nobody`, Petrel's network
process binds its listeners and reads its TLS key as root, then runs as nobody; the
data folder and everything written in it belong to nobody.  (The supervisor stays root;
each process's users: test_privsep.py.)"""

import os
import pwd
import shutil
import tempfile
from pathlib import Path

import pytest

from conftest import make_message, wait_mail


@pytest.fixture
def open_dir():
    # pytest's own temp folders are 0700 root: nobody could not reach a data folder there
    d = Path(tempfile.mkdtemp(prefix="petrel-priv-", dir="/tmp"))
    os.chmod(d, 0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def uids_of(pid):
    for line in Path("/proc/%d/status" % pid).read_text().splitlines():
        if line.startswith("Uid:"):
            return [int(x) for x in line.split()[1:]]
    raise AssertionError("no Uid line")


def test_runs_as_the_configured_user(petrel_factory, open_dir):
    if os.geteuid() != 0:
        pytest.skip("dropping privileges needs root")
    nobody = pwd.getpwnam("nobody")
    data = open_dir / "data"
    # the helpers run as nobody too: this test is about the network process's user
    # (each process with a user of its own: test_privsep.py)
    p = petrel_factory(user="nobody", auth_user="nobody", keys_user="nobody",
                       data_dir=str(data))
    # real, effective, saved and filesystem uid are all nobody's: no way back to root
    assert uids_of(p.processes()["network"]) == [nobody.pw_uid] * 4
    assert data.stat().st_uid == nobody.pw_uid
    assert (data / "queue").stat().st_uid == nobody.pw_uid
    assert (data / "petrel.db").stat().st_uid == nobody.pw_uid
    assert (data / "control.sock").stat().st_uid == nobody.pw_uid

    # the CLI, run as root on the same folder, leaves the database usable by nobody
    p.cli_ok("account", "add", "u@example.test", "--password-stdin", input="pw-123456\n")
    assert (data / "petrel.db").stat().st_uid == nobody.pw_uid

    c = p.session("mx")
    c.expect("MAIL FROM:<a@b.test>", 250)
    c.expect("RCPT TO:<u@example.test>", 250)
    c.expect("DATA", 354)
    c.send(make_message() + b".\r\n")
    assert c.read_reply().code == 250
    c.quit()
    wait_mail(data, "example.test", "u", 1)
    box = data / "mail" / "example.test" / "u" / "new"
    files = list(box.iterdir())
    assert files and all(f.stat().st_uid == nobody.pw_uid for f in files)
    assert p.stop() == 0
