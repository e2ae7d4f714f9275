"""ssl.ticket_key_file (issue 17): session tickets shared by a fleet.

Two gatehouse processes reading one key file (HAProxy's tls-ticket-keys
format: base64 80-byte keys, one a line, oldest first, the second-to-last
sealing) resume each other's TLS 1.2 and TLS 1.3 sessions; without the file
they do not. SIGHUP rereads the file: a ticket keeps resuming while its key
is listed, new tickets use the new sealing key, and a broken file is refused
with the old keys kept.
"""

import base64
import os
import signal
import ssl

import pytest
import trustme

import tls_helpers as th
from helpers import free_port, route, run_gatehouse

VERSIONS = [pytest.param(ssl.TLSVersion.TLSv1_2, id="tls12"),
            pytest.param(ssl.TLSVersion.TLSv1_3, id="tls13")]


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    d = tmp_path_factory.mktemp("pki")
    ca = trustme.CA()
    return {"ca": th.write_ca(ca, d / "ca.pem"),
            "leaf": th.write_leaf(ca, d, "fleet", ["fleet.test"], "fleet-cert")}


def key_line(tag):
    """One base64 80-byte key whose name starts with `tag` (as `openssl rand 80 | base64 -w0`)."""
    raw = bytes([tag]) + os.urandom(79)
    return base64.b64encode(raw).decode() + "\n"


def write_keys(path, tags):
    tmp = str(path) + ".new"
    with open(tmp, "w") as f:
        f.write("# ticket keys, oldest first; the second-to-last seals\n")
        f.writelines(KEYS[t] for t in tags)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


# One fixed key per tag for the whole module, so files written at different
# moments agree on what key `tag` is.
KEYS = {t: key_line(t) for t in range(1, 10)}


def start(gatehouse, origin, pki, key_file):
    ssl_block = {"enabled": True, "port": free_port(),
                 "cert_file": str(pki["leaf"].cert), "key_file": str(pki["leaf"].key)}
    if key_file is not None:
        ssl_block["ticket_key_file"] = str(key_file)
    gh = gatehouse({"server": {"reverse_proxy": [route(origin, "/")]}, "ssl": ssl_block})
    assert gh.tls_port
    return gh


def client_ctx(pki, version):
    """One client context per version: Python resumes a session only through
    the SSLContext that made it."""
    key = ("ctx", version)
    if key not in pki:
        pki[key] = th.client_context(cafile=pki["ca"], min_version=version, max_version=version)
    return pki[key]


def new_session(gh, pki, version):
    """A fresh session (with its ticket) from `gh`."""
    ctx = client_ctx(pki, version)
    with th.TlsClient(gh.tls_port, sni="fleet.test", ctx=ctx) as c:
        # A request first: TLS 1.3 tickets arrive after the handshake.
        assert c.request(target="/small").status == 200
        assert not c.sock.session_reused
        session = c.sock.session
    assert session is not None and session.has_ticket
    return session


def resumes(gh, pki, version, session):
    ctx = client_ctx(pki, version)
    with th.TlsClient(gh.tls_port, sni="fleet.test", ctx=ctx, session=session) as c:
        assert c.request(target="/small").status == 200
        return c.sock.session_reused


def reload(gh, marker, count_before):
    gh.signal(signal.SIGHUP)
    assert th.wait_for(lambda: gh.logs().count(marker) > count_before, 10), gh.logs()[-3000:]


@pytest.mark.parametrize("version", VERSIONS)
def test_ticket_from_one_process_resumes_on_another(gatehouse, origin, pki, tmp_path, version):
    keys = tmp_path / "fleet.keys"
    write_keys(keys, [1, 2, 3])
    o = origin()
    a = start(gatehouse, o, pki, keys)
    b = start(gatehouse, o, pki, keys)
    session = new_session(a, pki, version)
    assert resumes(b, pki, version, session), b.logs()[-2000:]
    assert resumes(a, pki, version, session)
    assert "TLS session tickets: 3 key(s) from" in a.logs()
    # And the other way round.
    assert resumes(a, pki, version, new_session(b, pki, version))


@pytest.mark.parametrize("version", VERSIONS)
def test_without_a_shared_file_no_resumption_elsewhere(gatehouse, origin, pki, tmp_path, version):
    o = origin()
    a = start(gatehouse, o, pki, None)
    b = start(gatehouse, o, pki, None)
    other = tmp_path / "other.keys"
    write_keys(other, [7])
    c = start(gatehouse, o, pki, other)
    session = new_session(a, pki, version)
    assert resumes(a, pki, version, session), "resumes where it was made"
    assert not resumes(b, pki, version, session), "in-memory keys are per process"
    assert not resumes(c, pki, version, session), "another file, other keys"


@pytest.mark.parametrize("version", VERSIONS)
def test_sighup_rotation_keeps_listed_keys_and_seals_with_the_new_one(gatehouse, origin, pki,
                                                                       tmp_path, version):
    keys = tmp_path / "fleet.keys"
    write_keys(keys, [1, 2, 3])             # key 2 seals
    o = origin()
    a = start(gatehouse, o, pki, keys)
    old = new_session(a, pki, version)      # sealed with key 2

    # Processes that know one key only: they resume a ticket iff it was sealed with it.
    only = {}
    for tag in (2, 3):
        f = tmp_path / f"only{tag}.keys"
        write_keys(f, [tag])
        only[tag] = start(gatehouse, o, pki, f)
    assert resumes(only[2], pki, version, old)
    assert not resumes(only[3], pki, version, old)

    # Rotate: append key 4, drop key 1. Key 3 seals now; key 2 still opens.
    marker = "TLS session tickets: 3 key(s) from"
    write_keys(keys, [2, 3, 4])
    reload(a, marker, a.logs().count(marker))
    assert "key on line 3" in a.logs().split(marker)[-1], a.logs()[-2000:]
    assert resumes(a, pki, version, old), "key 2 is still listed"
    new = new_session(a, pki, version)
    assert resumes(only[3], pki, version, new), "new tickets are sealed with key 3"
    assert not resumes(only[2], pki, version, new)

    # Rotate twice more: key 2 is gone, its tickets make a full handshake.
    write_keys(keys, [3, 4, 5])
    reload(a, marker, a.logs().count(marker))
    assert resumes(a, pki, version, new)
    write_keys(keys, [4, 5, 6])
    reload(a, marker, a.logs().count(marker))
    assert not resumes(a, pki, version, old)
    assert not resumes(a, pki, version, new)


def test_broken_file_on_sighup_keeps_the_old_keys(gatehouse, origin, pki, tmp_path):
    version = ssl.TLSVersion.TLSv1_3
    keys = tmp_path / "fleet.keys"
    write_keys(keys, [1, 2])
    o = origin()
    a = start(gatehouse, o, pki, keys)
    b = start(gatehouse, o, pki, keys)
    session = new_session(a, pki, version)
    with open(keys, "a") as f:
        f.write("this is not a key\n")
    a.signal(signal.SIGHUP)
    assert th.wait_for(lambda: "reload rejected" in a.logs(), 10), a.logs()[-3000:]
    log = a.logs()
    assert "fleet.keys: line 4: not a base64 key" in log, log[-3000:]
    # The old keys stay: old and new tickets work on A and on B (which never reloaded).
    assert resumes(a, pki, version, session)
    fresh = new_session(a, pki, version)
    assert resumes(b, pki, version, fresh)
    # A key of the wrong length is refused the same way.
    write_keys(keys, [1, 2])
    with open(keys, "a") as f:
        f.write(base64.b64encode(os.urandom(64)).decode() + "\n")
    before = a.logs().count("reload rejected")
    a.signal(signal.SIGHUP)
    assert th.wait_for(lambda: a.logs().count("reload rejected") > before, 10), a.logs()[-3000:]
    assert "a key is 64 bytes" in a.logs()
    assert resumes(a, pki, version, session)
    assert a.proc.poll() is None


def test_check_reports_the_file_at_its_line(tmp_path, pki):
    keys = tmp_path / "t.keys"
    keys.write_text(KEYS[1] + "AAAA\n")
    os.chmod(keys, 0o644)
    cfg = tmp_path / "gatehouse.yaml"
    cfg.write_text(
        "server:\n  host: 127.0.0.1\n  port: 8080\n  reverse_proxy:\n"
        "    - path: /\n      host: 127.0.0.1\n      port: 9\n"
        f"ssl:\n  enabled: true\n  port: 8443\n  cert_file: {pki['leaf'].cert}\n"
        f"  key_file: {pki['leaf'].key}\n  ticket_key_file: ./t.keys\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    p = run_gatehouse("check", "-c", str(cfg), cwd=str(elsewhere))
    assert p.returncode == 1, (p.stdout, p.stderr)
    assert f"{cfg}:13:20: " in p.stderr, p.stderr
    assert "t.keys: line 2: a key is 3 bytes" in p.stderr, p.stderr
    assert "has mode 0644" in p.stdout + p.stderr
    keys.write_text(KEYS[1])
    os.chmod(keys, 0o600)
    p = run_gatehouse("check", "-c", str(cfg), cwd=str(elsewhere))
    assert p.returncode == 0, p.stderr
    assert "has mode" not in p.stdout + p.stderr
