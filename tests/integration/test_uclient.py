"""coturn's turnutils_uclient against ternd: UDP and TCP client transports,
REST credentials from the shared secret (-W) and precomputed (-u/-w), with
turnutils_peer as the echo peer (-e/-r) or client-to-client (-y). The
summary lines must show every message sent, received, and nothing lost.

Without -s uclient binds channels numbered anywhere in 0x4000-0x7FFF (RFC
5766's range; RFC 8656 12 narrowed it to 0x4000-0x4FFF); ternd accepts the
old range for interop, so both modes run here."""

import re
import subprocess

import pytest

from conftest import free_port
from helpers import wait_until
import turnclient as tc

MESSAGES = 10
CLIENTS = 2
UCLIENT_TIMEOUT = 90


def run_uclient(ternd, flags, host="127.0.0.1", creds=None):
    if creds is None:
        creds = ["-W", ternd.secrets[0], "-u", "uclient"]
    argv = ["turnutils_uclient", *flags, "-n", str(MESSAGES), "-m", str(CLIENTS), "-l", "120",
            "-c", "-p", str(ternd.port), *creds, host]
    r = subprocess.run(argv, capture_output=True, text=True, timeout=UCLIENT_TIMEOUT)
    return r, r.stdout + r.stderr


def summary(out):
    sent = re.findall(r"start_mclient: tot_send_msgs=(\d+), tot_recv_msgs=(\d+)", out)
    lost = re.findall(r"Total lost packets (\d+)", out)
    assert sent and lost, f"no summary in uclient output:\n{out[-3000:]}"
    return int(sent[-1][0]), int(sent[-1][1]), int(lost[-1])


def assert_no_loss(r, out):
    assert r.returncode == 0, out[-3000:]
    sent, recv, lost = summary(out)
    assert (sent, recv, lost) == (MESSAGES * CLIENTS, MESSAGES * CLIENTS, 0), out[-3000:]


@pytest.fixture
def echo_peer(procs):
    port = free_port(hosts=("127.0.0.1",))
    p = procs("turnutils_peer", ["turnutils_peer", "-L", "127.0.0.1", "-p", str(port)])

    def listening():
        with open(f"/proc/net/udp") as f:
            return f":{port:04X} " in f.read()
    assert wait_until(listening, 5.0), "turnutils_peer did not bind"
    return ("127.0.0.1", port)


@pytest.mark.parametrize("flags", [[], ["-t"], ["-s"], ["-t", "-s"]],
                         ids=["udp-channel", "tcp-channel", "udp-send", "tcp-send"])
def test_uclient_with_echo_peer(ternd_w, echo_peer, flags):
    r, out = run_uclient(ternd_w, flags + ["-e", echo_peer[0], "-r", str(echo_peer[1])])
    assert_no_loss(r, out)


@pytest.mark.parametrize("flags", [["-y"], ["-y", "-t"], ["-y", "-s"]],
                         ids=["udp-channel", "tcp-channel", "udp-send"])
def test_uclient_client_to_client(ternd_w, flags):
    r, out = run_uclient(ternd_w, flags)
    assert_no_loss(r, out)


def test_uclient_precomputed_rest_credentials(ternd, echo_peer):
    username, password = ternd.creds("precomputed")
    r, out = run_uclient(ternd, ["-s", "-e", echo_peer[0], "-r", str(echo_peer[1])],
                         creds=["-u", username, "-w", password])
    assert_no_loss(r, out)


def test_uclient_wrong_secret_fails(ternd, echo_peer):
    r, out = run_uclient(ternd, ["-s", "-e", echo_peer[0], "-r", str(echo_peer[1])],
                         creds=["-W", "not-the-secret-at-all-0123", "-u", "x"])
    try:
        sent, recv, lost = summary(out)
    except AssertionError:
        return  # no summary at all: it gave up, as it should
    assert recv == 0
