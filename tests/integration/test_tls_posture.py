"""ternd's TLS posture seen from outside, with `openssl s_client`:
TLS 1.0 and 1.1 refused (the client is told to allow them, SECLEVEL=0, so
the refusal is the server's: alert 70 protocol_version), 1.2 and 1.3
accepted; in TLS 1.2 only forward-secret AEAD suites (CBC suites, with or
without ECDHE, and static-RSA GCM refused with alert 40); the negotiated
cipher is AEAD; client-initiated renegotiation refused; no compression; no
0-RTT (the ticket allows no early data and none is accepted). Run with an
ECDSA and with an RSA certificate.

Every s_client runs with a timeout; its stdin is held open only as long as
a step needs (session tickets, the "R" command)."""

import re
import subprocess
import time

import pytest

import helpers as h
import tls_support as ts
import turnclient as tc

S_CLIENT_TIMEOUT = 10
# Under valgrind (helpers.under_valgrind) ternd sends its session tickets
# seconds after the handshake: s_client waits that much longer for them.
HOLD_SCALE = 8.0 if h.under_valgrind() else 1.0
LEGACY = "DEFAULT:@SECLEVEL=0"   # lets the client offer what the server must refuse


@pytest.fixture(params=["ec", "rsa"])
def d(request, ternd_factory, tmp_path):
    ca = ts.Ca(str(tmp_path / "pki"))
    cert, key = ca.issue("turn", ts.TURN_NAME, dns=(ts.TURN_NAME,), key_type=request.param)
    t = ts.start_tls_ternd(ternd_factory, tmp_path, cert, key, cafile=ca.cert, workers=1)
    t.key_type = request.param
    return t


def s_client(d, *args, script=(), hold=0.0):
    """Runs s_client against ternd's TLS port. script: (delay, bytes) steps
    written to its stdin; stdin is then held open `hold` seconds and closed.
    Returns stdout+stderr."""
    argv = ["openssl", "s_client", "-connect", f"127.0.0.1:{d.tls_port}",
            "-servername", ts.TURN_NAME, "-CAfile", d.cafile, *args]
    p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT)
    try:
        for delay, data in script:
            time.sleep(delay)
            try:
                p.stdin.write(data)
                p.stdin.flush()
            except BrokenPipeError:
                break
        time.sleep(hold)
        out, _ = p.communicate(timeout=S_CLIENT_TIMEOUT)
    except subprocess.TimeoutExpired:
        p.kill()
        out, _ = p.communicate(timeout=5)
        raise AssertionError(f"s_client {' '.join(args)} hung:\n{out.decode(errors='replace')}")
    finally:
        if p.poll() is None:
            p.kill()
            p.wait(5)
    return out.decode(errors="replace")


def negotiated(out):
    """(protocol, cipher) from s_client's "New, ..." line, or None."""
    m = re.search(r"^New, (\S+), Cipher is (\S+)", out, re.M)
    if not m or m.group(1) == "(NONE)":
        return None
    return m.group(1).rstrip(","), m.group(2)


def is_aead(cipher):
    return "GCM" in cipher or "CHACHA20" in cipher


@pytest.mark.parametrize("flag", ["-tls1", "-tls1_1"])
def test_old_protocols_refused_by_the_server(d, flag):
    out = s_client(d, flag, "-cipher", LEGACY)
    assert negotiated(out) is None, out
    # The server said no (protocol_version), not our own client library.
    assert "alert protocol version" in out or "alert number 70" in out, out


@pytest.mark.parametrize("flag,proto", [("-tls1_2", "TLSv1.2"), ("-tls1_3", "TLSv1.3")])
def test_tls12_and_tls13_accepted_with_aead_no_compression(d, flag, proto):
    out = s_client(d, flag)
    got = negotiated(out)
    assert got and got[0] == proto, out
    assert is_aead(got[1]), f"non-AEAD cipher negotiated: {got}"
    assert "Compression: NONE" in out, out
    assert "Verify return code: 0 (ok)" in out, out


def test_tls12_only_forward_secret_aead_suites(d):
    sig = "ECDSA" if d.key_type == "ec" else "RSA"
    refused = [f"ECDHE-{sig}-AES128-SHA", f"ECDHE-{sig}-AES256-SHA",
               f"ECDHE-{sig}-AES128-SHA256", f"ECDHE-{sig}-AES256-SHA384"]
    if d.key_type == "rsa":
        # Static RSA key exchange: AEAD but not forward-secret; and plain CBC.
        refused += ["AES128-GCM-SHA256", "AES256-GCM-SHA384", "AES128-SHA", "AES256-SHA256"]
    accepted = [f"ECDHE-{sig}-AES128-GCM-SHA256", f"ECDHE-{sig}-AES256-GCM-SHA384",
                f"ECDHE-{sig}-CHACHA20-POLY1305"]
    wrong = {}
    for cipher in refused:
        out = s_client(d, "-tls1_2", "-cipher", cipher + ":@SECLEVEL=0")
        if negotiated(out) is not None or not (
                "alert handshake failure" in out or "alert number 40" in out):
            wrong[cipher] = out[-600:]
    for cipher in accepted:
        out = s_client(d, "-tls1_2", "-cipher", cipher)
        if negotiated(out) != ("TLSv1.2", cipher):
            wrong[cipher] = out[-600:]
    assert not wrong, wrong


def test_tls13_suites(d):
    for suite in ("TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384",
                  "TLS_CHACHA20_POLY1305_SHA256"):
        out = s_client(d, "-tls1_3", "-ciphersuites", suite)
        assert negotiated(out) == ("TLSv1.3", suite), out
    # CCM suites are AEAD too but not on ternd's list; neither is offered
    # by default, so a client offering only them is refused.
    out = s_client(d, "-tls1_3", "-ciphersuites", "TLS_AES_128_CCM_SHA256")
    assert negotiated(out) is None, out


def test_client_renegotiation_refused(d):
    out = s_client(d, "-tls1_2", script=[(0.6, b"R\n")], hold=0.8)
    assert negotiated(out)[0] == "TLSv1.2", out
    assert "RENEGOTIATING" in out, out
    after = out[out.index("RENEGOTIATING"):]
    assert "no renegotiation" in after or "alert" in after, \
        f"renegotiation was not refused:\n{out[-2000:]}"
    # Only the first handshake: no second certificate verification.
    assert after.count("verify return:") == 0, after
    # And ternd is fine afterwards.
    with d.tls_client() as c:
        assert c.allocate().relay[0] == "127.0.0.1"


def test_no_early_data(d, tmp_path):
    sess = str(tmp_path / "session.pem")
    early = tmp_path / "early.txt"
    early.write_bytes(tc.encode(tc.Message(tc.BINDING, tc.REQUEST)))
    out = s_client(d, "-tls1_3", "-sess_out", sess, hold=0.5 * HOLD_SCALE)
    assert negotiated(out)[0] == "TLSv1.3", out
    tickets = re.findall(r"Max Early Data: (\d+)", out)
    assert tickets and all(t == "0" for t in tickets), f"tickets allow early data: {tickets}"
    out = s_client(d, "-tls1_3", "-sess_in", sess, "-early_data", str(early), hold=0.3 * HOLD_SCALE)
    assert "Early data was accepted" not in out, out
    assert ("Early data was rejected" in out or "Early data was not sent" in out), out
