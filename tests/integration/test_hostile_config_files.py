"""Hostile (admin side): files named in the config that are not regular
files. A FIFO as auth.secrets_file used to block ternd in open(2) waiting for
a writer, hanging `ternd --check-config` (and a reload on the control
thread); it must be refused at once as "not a regular file".
"""

import os
import subprocess

from conftest import TERND, default_config, free_port, render_config


def test_fifo_secrets_file_refused_without_blocking(tmp_path):
    fifo = str(tmp_path / "secrets")
    os.mkfifo(fifo, 0o600)
    cfg = default_config(free_port(), 20000, 20099, fifo)
    path = str(tmp_path / "ternd.conf")
    with open(path, "w") as f:
        f.write(render_config(cfg))
    try:
        r = subprocess.run([TERND, "--check-config", "-c", path], capture_output=True,
                           text=True, timeout=5)
    except subprocess.TimeoutExpired:
        raise AssertionError("ternd --check-config blocked on a FIFO secrets file")
    assert r.returncode != 0 and "not a regular file" in r.stderr, r.stderr
