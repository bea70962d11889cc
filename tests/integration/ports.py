"""Free ports for the processes a test starts (ternd, Redis, Prometheus,
coturn, proxies): one picker for the whole run, so no two picks collide."""

import socket

import turnclient as tc


def bindable(host, port, kind):
    """True if `host:port` can be bound for `kind` (SOCK_DGRAM or SOCK_STREAM) now."""
    fam = tc.family_of(host)
    s = socket.socket(fam, kind)
    try:
        if kind == socket.SOCK_STREAM:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((host, port))
        return True
    except OSError:
        return False
    finally:
        s.close()


# Ports free_port has handed out in this run. A port is only taken when
# the process it is meant for binds it, so without this two picks made
# before that (a daemon's STUN port and its metrics port, say) could be the
# same number, and the daemon would fail on "Address already in use".
_HANDED_OUT = set()


def free_port(hosts=("127.0.0.1", "::1"), tries=50):
    """A port that is free for both UDP and TCP on every host, and not handed
    out before in this run: ask the kernel for one on the first host, then
    check the rest."""
    for _ in range(tries):
        s = socket.socket(tc.family_of(hosts[0]), socket.SOCK_DGRAM)
        s.bind((hosts[0], 0))
        port = s.getsockname()[1]
        s.close()
        if port not in _HANDED_OUT and all(
                bindable(h, port, k) for h in hosts
                for k in (socket.SOCK_DGRAM, socket.SOCK_STREAM)):
            _HANDED_OUT.add(port)
            return port
    raise RuntimeError("no free port found")
