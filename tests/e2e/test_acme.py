"""ACME (CONTRACT "L4 streams, PROXY protocol, ACME"; issue 17) against a real
test CA: Debian's pebble, with pebble-challtestsrv as its DNS server (every
name resolves to 127.0.0.1), started by each test on free ports.

pebble validates http-01 on its `httpPort` and tls-alpn-01 on its `tlsPort`:
both are set to gatehouse's plain and TLS listener ports. PEBBLE_VA_NOSLEEP
makes validation immediate; pebble's random nonce rejection stays on (the
client must retry badNonce).
"""

import json
import os
import re
import shutil
import signal
import socket
import ssl
import stat
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
import trustme

import helpers
import tls_helpers
from helpers import HOST, free_port, wait_until

PEBBLE = shutil.which("pebble")
CHALLTESTSRV = shutil.which("pebble-challtestsrv")

pytestmark = pytest.mark.skipif(not (PEBBLE and CHALLTESTSRV),
                                reason="pebble and pebble-challtestsrv are needed (scripts/deps.sh)")

ISSUE_TIMEOUT = 30.0


class Pebble:
    """pebble + pebble-challtestsrv (DNS only) in `directory`."""

    def __init__(self, directory, http_port, tls_port, validity=None, blocklist=()):
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        # pebble's own HTTPS certificate, from a throw-away CA: gatehouse's
        # ssl.acme.ca_file.
        ca = trustme.CA()
        leaf = ca.issue_cert("127.0.0.1", "localhost")
        self.ca_file = self.dir / "pebble-tls-ca.pem"
        ca.cert_pem.write_to_path(str(self.ca_file))
        cert = self.dir / "pebble-tls.pem"
        key = self.dir / "pebble-tls.key"
        leaf.cert_chain_pems[0].write_to_path(str(cert))
        leaf.private_key_pem.write_to_path(str(key))
        self.port = free_port()
        self.mgmt_port = free_port()
        self.dns_port = free_port()
        conf = {"pebble": {
            "listenAddress": f"{HOST}:{self.port}",
            "managementListenAddress": f"{HOST}:{self.mgmt_port}",
            "certificate": str(cert),
            "privateKey": str(key),
            "httpPort": http_port,
            "tlsPort": tls_port,
            "ocspResponderURL": "",
            "externalAccountBindingRequired": False,
            "domainBlocklist": list(blocklist),
        }}
        if validity is not None:
            conf["pebble"]["certificateValidityPeriod"] = validity
        self.config = self.dir / "pebble-config.json"
        self.config.write_text(json.dumps(conf))
        self.log_path = self.dir / "pebble.log"
        self.dns_log_path = self.dir / "challtestsrv.log"
        self._log = open(self.log_path, "ab")
        self._dns_log = open(self.dns_log_path, "ab")
        # DNS only: every A query answers 127.0.0.1, AAAA nothing.
        self.dns = subprocess.Popen(
            [CHALLTESTSRV, "-dns01", f"{HOST}:{self.dns_port}", "-http01", "", "-https01", "",
             "-tlsalpn01", "", "-management", f"{HOST}:{free_port()}",
             "-defaultIPv4", HOST, "-defaultIPv6", ""],
            stdout=self._dns_log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            preexec_fn=helpers._die_with_parent)
        self.proc = None
        self.start()

    def start(self):
        env = dict(os.environ, PEBBLE_VA_NOSLEEP="1")
        self.proc = subprocess.Popen(
            [PEBBLE, "-config", str(self.config), "-dnsserver", f"{HOST}:{self.dns_port}"],
            stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
            preexec_fn=helpers._die_with_parent)
        ctx = ssl.create_default_context(cafile=str(self.ca_file))

        def ready():
            if self.proc.poll() is not None:
                raise AssertionError(f"pebble exited:\n{self.log()[-3000:]}")
            try:
                with urllib.request.urlopen(self.directory, context=ctx, timeout=2) as r:
                    return r.status == 200
            except OSError:
                return False
        assert wait_until(ready, timeout=15), f"pebble not ready:\n{self.log()[-3000:]}"

    @property
    def directory(self):
        return f"https://{HOST}:{self.port}/dir"

    def stop_ca(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def issuing_root(self, path):
        """pebble's (per-process random) issuing root, from its management API."""
        ctx = ssl.create_default_context(cafile=str(self.ca_file))
        with urllib.request.urlopen(f"https://{HOST}:{self.mgmt_port}/roots/0", context=ctx,
                                    timeout=5) as r:
            Path(path).write_bytes(r.read())
        return Path(path)

    def log(self):
        self._log.flush()
        return self.log_path.read_text(errors="replace")

    def orders(self):
        """How many orders pebble has created ("Added order" in its log; a
        POST /order-plz refused for its nonce is retried and not counted)."""
        return len(re.findall(r'Added order "', self.log()))

    def stop(self):
        self.stop_ca()
        if self.dns.poll() is None:
            self.dns.terminate()
            try:
                self.dns.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.dns.kill()
                self.dns.wait()
        self._log.close()
        self._dns_log.close()


@pytest.fixture
def pebble(tmp_path):
    started = []

    def start(**kw):
        p = Pebble(tmp_path / f"pebble-{len(started)}", **kw)
        started.append(p)
        return p
    yield start
    for p in started:
        p.stop()


def acme_config(origin_port, plain_port, tls_port, pebble, storage, domains=None, **ssl_extra):
    acme = {"email": "ops@example.test", "directory": pebble.directory, "storage": str(storage),
            "ca_file": str(pebble.ca_file)}
    if domains is not None:
        acme["domains"] = domains
    ssl_section = {"enabled": True, "acme": acme, **ssl_extra}
    if tls_port is not None:
        ssl_section["port"] = tls_port
    return {
        "server": {"host": HOST, "port": plain_port, "reverse_proxy": [
            {"path": "/", "domains": ["app.test"], "backends": [{"address": f"{HOST}:{origin_port}"}]},
        ]},
        "ssl": ssl_section,
    }


def wait_log(gh, pattern, count=1, timeout=ISSUE_TIMEOUT):
    ok = wait_until(lambda: len(re.findall(pattern, gh.logs())) >= count, timeout=timeout)
    assert ok, f"no {count} x {pattern!r} in the log within {timeout}s:\n{gh.logs()[-4000:]}"


def served_cert(port, sni="app.test", alpn=None):
    """(DER, issuer CN) of what the TLS listener serves for `sni` (no verification)."""
    with tls_helpers.tls_connect(port, sni=sni, verify=False, timeout=5,
                                 alpn=alpn) as s:
        der = s.getpeercert(binary_form=True)
    from cryptography import x509
    from cryptography.x509.oid import NameOID
    c = x509.load_der_x509_certificate(der)
    issuer = c.issuer.get_attributes_for_oid(NameOID.COMMON_NAME)
    return der, (issuer[0].value if issuer else "")


def verified_get(port, root, sni="app.test"):
    """GET / over TLS verified against pebble's issuing root for `sni`."""
    return tls_helpers.https_request(port, sni=sni, host=sni, cafile=root, timeout=5)


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.mark.deadline(90)
def test_issue_with_http01_then_serve_it_verified_by_pebbles_root(tmp_path, pebble, gatehouse,
                                                                   origin):
    o = origin()
    plain, tls = free_port(), free_port()
    ca = pebble(http_port=plain, tls_port=tls)
    storage = tmp_path / "acme"
    gh = gatehouse(acme_config(o.port, plain, tls, ca, storage))
    # Until issued: the in-memory placeholder, not a certificate anyone trusts.
    _, issuer = served_cert(gh.tls_port)
    assert "Pebble" not in issuer
    wait_log(gh, r"acme: certificate for app\.test issued and serving")
    assert "http-01" in gh.logs()
    assert ca.orders() == 1
    root = ca.issuing_root(tmp_path / "pebble-root.pem")
    r = verified_get(gh.tls_port, root)
    assert r.status == 200
    _, issuer = served_cert(gh.tls_port)
    assert "Pebble" in issuer, issuer
    # Without SNI the ACME certificate is the default too (no cert_file).
    with tls_helpers.tls_connect(gh.tls_port, sni=None, verify=False, timeout=5) as s:
        assert s.getpeercert(binary_form=True) == served_cert(gh.tls_port)[0]
    # Storage: keys readable by the owner only, directories 0700.
    assert mode(storage) == 0o700
    assert mode(storage / "certs") == 0o700
    assert mode(storage / "certs" / "app.test") == 0o700
    assert mode(storage / "account.key") == 0o600
    assert mode(storage / "certs" / "app.test" / "key.pem") == 0o600
    assert (storage / "certs" / "app.test" / "cert.pem").read_text().count("BEGIN CERTIFICATE") >= 2


@pytest.mark.deadline(90)
def test_http01_answers_before_redirects_and_unknown_tokens_reach_the_routes(tmp_path, pebble,
                                                                             gatehouse, origin):
    o = origin()
    plain, tls = free_port(), free_port()
    ca = pebble(http_port=plain, tls_port=tls)
    # redirect_http would send every plain request to https://: the
    # challenge must still be answered on the plain listener.
    gh = gatehouse(acme_config(o.port, plain, tls, ca, tmp_path / "acme", redirect_http=True))
    wait_log(gh, r"acme: certificate for app\.test issued and serving")
    # A token nobody is validating is not ours to answer.
    r = helpers.http_request(plain, "GET", "/.well-known/acme-challenge/nosuchtoken",
                             host="app.test")
    assert r.status == 301


@pytest.mark.deadline(90)
def test_issue_with_tls_alpn01_when_there_is_no_plain_listener(tmp_path, pebble, gatehouse, origin):
    o = origin()
    tls = free_port()
    # Nothing listens on pebble's httpPort: only tls-alpn-01 can succeed.
    ca = pebble(http_port=free_port(), tls_port=tls)
    gh = gatehouse(acme_config(o.port, tls, None, ca, tmp_path / "acme"))
    wait_log(gh, r"acme: certificate for app\.test issued and serving")
    assert "tls-alpn-01" in gh.logs()
    root = ca.issuing_root(tmp_path / "pebble-root.pem")
    r = verified_get(gh.tls_port, root)
    assert r.status == 200
    # A client offering acme-tls/1 for a name with no pending challenge gets
    # no validation certificate: the handshake fails (no common protocol).
    with pytest.raises((ssl.SSLError, OSError)):
        served_cert(gh.tls_port, alpn=["acme-tls/1"])


@pytest.mark.deadline(120)
def test_renews_at_two_thirds_of_the_lifetime_and_swaps_without_a_restart(tmp_path, pebble,
                                                                          gatehouse, origin):
    o = origin()
    plain, tls = free_port(), free_port()
    # 15 s certificates: renewal 10 s after issue.
    ca = pebble(http_port=plain, tls_port=tls, validity=15)
    gh = gatehouse(acme_config(o.port, plain, tls, ca, tmp_path / "acme"))
    wait_log(gh, r"acme: certificate for app\.test issued and serving")
    first, _ = served_cert(gh.tls_port)
    issued_at = time.monotonic()
    wait_log(gh, r"acme: certificate for app\.test issued and serving", count=2, timeout=40)
    elapsed = time.monotonic() - issued_at
    assert elapsed >= 7, f"renewed after {elapsed:.1f}s, before two thirds of 15 s"
    second, issuer = served_cert(gh.tls_port)
    assert second != first
    assert "Pebble" in issuer
    assert gh.proc.poll() is None and gh.pid == gh.proc.pid   # the same process
    root = ca.issuing_root(tmp_path / "pebble-root.pem")
    assert verified_get(gh.tls_port, root).status == 200
    assert ca.orders() >= 2


@pytest.mark.deadline(120)
def test_restart_serves_the_stored_certificate_at_once_without_an_order(tmp_path, pebble,
                                                                        gatehouse, origin):
    o = origin()
    plain, tls = free_port(), free_port()
    ca = pebble(http_port=plain, tls_port=tls)
    storage = tmp_path / "acme"
    config = acme_config(o.port, plain, tls, ca, storage)
    gh = gatehouse(config)
    wait_log(gh, r"acme: certificate for app\.test issued and serving")
    issued, _ = served_cert(gh.tls_port)
    root = ca.issuing_root(tmp_path / "pebble-root.pem")
    gh.signal(signal.SIGTERM)
    gh.proc.wait(timeout=20)
    # With the CA gone, a new order could not succeed: what serves is the stored one.
    ca.stop_ca()
    gh2 = gatehouse(config)
    der, _ = served_cert(gh2.tls_port)
    assert der == issued
    assert verified_get(gh2.tls_port, root).status == 200
    assert "serving the stored certificate for app.test" in gh2.logs()
    time.sleep(0.5)
    assert "ordering a certificate" not in gh2.logs()


@pytest.mark.deadline(90)
def test_a_ca_that_refuses_is_logged_retried_with_backoff_and_cert_file_keeps_serving(
        tmp_path, pebble, gatehouse, origin, monkeypatch):
    o = origin()
    plain, tls = free_port(), free_port()
    ca = pebble(http_port=plain, tls_port=tls, blocklist=["blocked.test"])
    own_ca = trustme.CA()
    own = tls_helpers.write_leaf(own_ca, tmp_path, "own", ["blocked.test"], "own-blocked")
    monkeypatch.setenv("GATEHOUSE_ACME_RETRY_MS", "300")
    config = acme_config(o.port, plain, tls, ca, tmp_path / "acme", domains=["blocked.test"],
                         cert_file=str(own.cert), key_file=str(own.key))
    gh = gatehouse(config)
    wait_log(gh, r"could not obtain a certificate for blocked\.test", count=3, timeout=20)
    logs = gh.logs()
    assert "rejectedIdentifier" in logs, logs[-3000:]
    assert f"the configured certificate {own.cert} keeps serving" in logs
    delays = [int(d) for d in re.findall(r"next attempt in (\d+) ms", logs)]
    assert delays[:3] == [300, 600, 1200], delays
    assert tls_helpers.peer_cn(gh.tls_port, sni="blocked.test") == "own-blocked"


@pytest.mark.deadline(120)
def test_the_issued_certificate_keeps_serving_when_the_ca_is_gone_at_renewal(
        tmp_path, pebble, gatehouse, origin, monkeypatch):
    o = origin()
    plain, tls = free_port(), free_port()
    ca = pebble(http_port=plain, tls_port=tls, validity=9)
    monkeypatch.setenv("GATEHOUSE_ACME_RETRY_MS", "500")
    gh = gatehouse(acme_config(o.port, plain, tls, ca, tmp_path / "acme"))
    wait_log(gh, r"acme: certificate for app\.test issued and serving")
    issued, _ = served_cert(gh.tls_port)
    ca.stop_ca()
    # Renewal from 6 s on fails: the CA does not answer.
    wait_log(gh, r"could not obtain a certificate for app\.test", count=2, timeout=30)
    assert "the previous ACME certificate keeps serving" in gh.logs()
    der, _ = served_cert(gh.tls_port)
    assert der == issued


@pytest.mark.deadline(90)
def test_sighup_applies_a_new_acme_domain(tmp_path, pebble, gatehouse, origin):
    o = origin()
    plain, tls = free_port(), free_port()
    ca = pebble(http_port=plain, tls_port=tls)
    config = acme_config(o.port, plain, tls, ca, tmp_path / "acme", domains=["app.test"])
    gh = gatehouse(config)
    wait_log(gh, r"acme: certificate for app\.test issued and serving")
    config["ssl"]["acme"]["domains"] = ["app.test", "other.test"]
    gh.config_path.write_text(helpers.to_yaml(config) + "\n")
    gh.signal(signal.SIGHUP)
    wait_log(gh, r"acme: certificate for other\.test issued and serving")
    root = ca.issuing_root(tmp_path / "pebble-root.pem")
    assert verified_get(gh.tls_port, root, sni="other.test").status in (200, 404)
    assert verified_get(gh.tls_port, root, sni="app.test").status == 200


@pytest.mark.deadline(60)
def test_shutdown_is_prompt_while_the_ca_does_not_answer(tmp_path, gatehouse, origin):
    o = origin()
    # A "CA" that accepts connections and never says a word: the order hangs
    # in the TLS handshake to it (bounded by the client's 10 s connect timeout).
    silent = socket.socket()
    silent.bind((HOST, 0))
    silent.listen(16)
    try:
        ca = trustme.CA()
        ca_file = tmp_path / "ca.pem"
        ca.cert_pem.write_to_path(str(ca_file))
        plain, tls = free_port(), free_port()
        config = {
            "server": {"host": HOST, "port": plain, "reverse_proxy": [
                {"path": "/", "domains": ["app.test"],
                 "backends": [{"address": f"{HOST}:{o.port}"}]}]},
            "ssl": {"enabled": True, "port": tls, "acme": {
                "directory": f"https://{HOST}:{silent.getsockname()[1]}/dir",
                "storage": str(tmp_path / "acme"), "ca_file": str(ca_file)}},
        }
        gh = gatehouse(config)
        wait_log(gh, r"acme: ordering a certificate for app\.test", timeout=10)
        time.sleep(0.5)
        started = time.monotonic()
        gh.signal(signal.SIGTERM)
        gh.proc.wait(timeout=20)
        took = time.monotonic() - started
        assert took < 3, f"shutdown took {took:.1f}s with an order in progress"
        assert gh.proc.returncode == 0
    finally:
        silent.close()


@pytest.mark.deadline(90)
def test_cert_file_serves_until_issued_then_the_acme_certificate_wins(tmp_path, pebble, gatehouse,
                                                                      origin, monkeypatch):
    o = origin()
    plain, tls = free_port(), free_port()
    ca = pebble(http_port=plain, tls_port=tls)
    ca.stop_ca()   # down at first: the first orders fail, cert_file serves
    own = tls_helpers.write_leaf(trustme.CA(), tmp_path, "own", ["app.test"], "own-app")
    monkeypatch.setenv("GATEHOUSE_ACME_RETRY_MS", "300")
    gh = gatehouse(acme_config(o.port, plain, tls, ca, tmp_path / "acme",
                               cert_file=str(own.cert), key_file=str(own.key)))
    wait_log(gh, r"could not obtain a certificate for app\.test", timeout=15)
    assert tls_helpers.peer_cn(gh.tls_port, sni="app.test") == "own-app"
    ca.start()
    wait_log(gh, r"acme: certificate for app\.test issued and serving", timeout=30)
    root = ca.issuing_root(tmp_path / "pebble-root.pem")
    assert verified_get(gh.tls_port, root).status == 200
    _, issuer = served_cert(gh.tls_port)
    assert "Pebble" in issuer
    # cert_file stays the default for names ACME does not hold.
    assert tls_helpers.peer_cn(gh.tls_port, sni="other.test") == "own-app"


@pytest.mark.deadline(90)
def test_after_a_failed_http01_the_next_attempt_tries_tls_alpn01(tmp_path, pebble, gatehouse,
                                                                 origin, monkeypatch):
    o = origin()
    plain, tls = free_port(), free_port()
    # The CA validates http-01 on a port where nothing listens (a firewalled
    # port 80): only tls-alpn-01 on the TLS listener can succeed.
    ca = pebble(http_port=free_port(), tls_port=tls)
    monkeypatch.setenv("GATEHOUSE_ACME_RETRY_MS", "300")
    gh = gatehouse(acme_config(o.port, plain, tls, ca, tmp_path / "acme"))
    wait_log(gh, r"acme: certificate for app\.test issued and serving")
    logs = gh.logs()
    assert re.search(r"could not obtain a certificate for app\.test .*urn:ietf:params:acme:error:", logs)
    orders = re.findall(r"ordering a certificate for app\.test from \S+ \((\S+)\)", logs)
    assert orders[:2] == ["http-01", "tls-alpn-01"], orders
    root = ca.issuing_root(tmp_path / "pebble-root.pem")
    assert verified_get(gh.tls_port, root).status == 200
