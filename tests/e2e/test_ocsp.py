"""OCSP stapling (issue 17): a certificate whose leaf names an OCSP
responder (and whose issuer is in the chain) gets a stapled response.

The test builds its own CA with `cryptography` and runs `openssl ocsp` as
the responder on a free port. GATEHOUSE_OCSP_REFRESH_MS (for tests only)
makes gatehouse refetch every 300 ms instead of halfway to nextUpdate.
Checked: a client asking with status_request (`openssl s_client -status`)
sees a "good" staple on TLS 1.2 and 1.3; the staple survives a SIGHUP and a
responder outage while it is fresh; a revoked certificate is never stapled;
with the responder down from the start the handshake works without a staple.
"""

import datetime
import re
import signal
import subprocess
import time

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID, NameOID

import tls_helpers as th
from helpers import HOST, free_port, route, wait_until

NAME = "ocsp.test"


def _name(cn):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _pem_key(key):
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


class Pki:
    """A root CA and a leaf for NAME whose AIA names http://127.0.0.1:PORT/."""

    def __init__(self, d, ocsp_port, aia=True):
        now = datetime.datetime.now(datetime.timezone.utc)
        self.dir = d
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca = (x509.CertificateBuilder().subject_name(_name("OCSP Test CA"))
              .issuer_name(_name("OCSP Test CA")).public_key(ca_key.public_key())
              .serial_number(x509.random_serial_number())
              .not_valid_before(now - datetime.timedelta(hours=1))
              .not_valid_after(now + datetime.timedelta(days=2))
              .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
              .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False,
                                           False), critical=True)
              .sign(ca_key, hashes.SHA256()))
        leaf_key = ec.generate_private_key(ec.SECP256R1())
        b = (x509.CertificateBuilder().subject_name(_name(NAME)).issuer_name(ca.subject)
             .public_key(leaf_key.public_key()).serial_number(x509.random_serial_number())
             .not_valid_before(now - datetime.timedelta(hours=1))
             .not_valid_after(now + datetime.timedelta(days=1))
             .add_extension(x509.SubjectAlternativeName([x509.DNSName(NAME)]), critical=False)
             .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]),
                            critical=False))
        if aia:
            b = b.add_extension(x509.AuthorityInformationAccess([x509.AccessDescription(
                AuthorityInformationAccessOID.OCSP,
                x509.UniformResourceIdentifier(f"http://{HOST}:{ocsp_port}/"))]), critical=False)
        leaf = b.sign(ca_key, hashes.SHA256())
        self.ca_pem = d / "ca.pem"
        self.ca_key = d / "ca.key"
        self.cert = d / "leaf.pem"
        self.key = d / "leaf.key"
        self.index = d / "index.txt"
        self.ca_pem.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
        self.ca_key.write_bytes(_pem_key(ca_key))
        # The chain file: leaf, then its issuer (stapling needs the issuer).
        self.cert.write_bytes(leaf.public_bytes(serialization.Encoding.PEM)
                              + ca.public_bytes(serialization.Encoding.PEM))
        self.key.write_bytes(_pem_key(leaf_key))
        self.leaf = leaf
        self.mark(revoked=False)

    def mark(self, revoked):
        """Writes the responder's index (`openssl ca` format) with the leaf valid
    or revoked. `openssl ocsp` 3.0 reads it at start only: restart it after."""
        expiry = self.leaf.not_valid_after.strftime("%y%m%d%H%M%SZ")
        serial = format(self.leaf.serial_number, "X")
        if len(serial) % 2:
            serial = "0" + serial
        when = datetime.datetime.now(datetime.timezone.utc).strftime("%y%m%d%H%M%SZ")
        status, rev = ("R", f"{when},keyCompromise") if revoked else ("V", "")
        tmp = self.index.with_suffix(".new")
        tmp.write_text(f"{status}\t{expiry}\t{rev}\t{serial}\tunknown\t/CN={NAME}\n")
        tmp.replace(self.index)


class Responder:
    """`openssl ocsp` answering for the test CA on `port` (nextUpdate in 5 minutes)."""

    def __init__(self, pki, port):
        self.log = open(pki.dir / f"ocsp-{port}-{time.monotonic_ns()}.log", "wb")
        self.proc = subprocess.Popen(
            ["openssl", "ocsp", "-index", str(pki.index), "-port", str(port),
             "-CA", str(pki.ca_pem), "-rsigner", str(pki.ca_pem), "-rkey", str(pki.ca_key),
             "-nmin", "5", "-ignore_err"],
            stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        # Ready once it says so (a probe connection would block this
        # one-connection-at-a-time responder).
        logname = self.log.name
        assert wait_until(lambda: b"waiting for OCSP client" in open(logname, "rb").read(), 10), \
            "openssl ocsp did not start"

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


@pytest.fixture
def responders():
    started = []

    def start(pki, port):
        r = Responder(pki, port)
        started.append(r)
        return r

    yield start
    for r in started:
        r.stop()


@pytest.fixture
def fast_refresh(monkeypatch):
    monkeypatch.setenv("GATEHOUSE_OCSP_REFRESH_MS", "300")


def staple(port, *flags):
    """What `openssl s_client -status` saw: 'good', 'revoked', 'none' or the output."""
    rc, out = th.s_client(port, "-servername", NAME, "-status", *flags)
    assert "BEGIN CERTIFICATE" in out or "Server certificate" in out, out
    if "OCSP response: no response sent" in out:
        return "none"
    m = re.search(r"Cert Status: (\w+)", out)
    return m.group(1) if m else out


def front(gatehouse, origin, pki):
    gh = gatehouse({"server": {"reverse_proxy": [route(origin(), "/")]},
                    "ssl": {"enabled": True, "port": free_port(), "cert_file": str(pki.cert),
                            "key_file": str(pki.key)}})
    assert gh.tls_port
    return gh


@pytest.mark.deadline(90)
def test_good_staple_survives_reload_and_outage_and_revocation_removes_it(
        gatehouse, origin, responders, fast_refresh, tmp_path):
    port = free_port()
    pki = Pki(tmp_path, port)
    responder = responders(pki, port)
    gh = front(gatehouse, origin, pki)
    assert wait_until(lambda: staple(gh.tls_port) == "good", 15), gh.logs()[-3000:]
    assert staple(gh.tls_port, "-tls1_2") == "good"
    assert "OCSP: stapling a good response for" in gh.logs()
    # A client that does not ask gets no staple and no trouble.
    assert th.https_request(gh.tls_port, target="/small", sni=NAME, cafile=pki.ca_pem).status == 200

    # Responder down, then a reload with the same certificate: the fresh
    # staple held from before keeps being served.
    responder.stop()
    assert wait_until(lambda: "fetch failed" in gh.logs(), 10), gh.logs()[-3000:]
    gh.signal(signal.SIGHUP)
    assert wait_until(lambda: "configuration reloaded" in gh.logs(), 10), gh.logs()[-3000:]
    time.sleep(0.5)   # more refresh attempts fail meanwhile
    assert staple(gh.tls_port) == "good"

    # Revoked: the next answer says so and the staple is gone.
    pki.mark(revoked=True)
    responder = responders(pki, port)
    assert wait_until(lambda: staple(gh.tls_port) == "none", 15), gh.logs()[-3000:]
    assert re.search(r"OCSP: \S+leaf\.pem: revoked \(keyCompromise\)", gh.logs()), gh.logs()[-3000:]
    assert staple(gh.tls_port, "-tls1_2") == "none"
    assert th.https_request(gh.tls_port, target="/small", sni=NAME, cafile=pki.ca_pem).status == 200

    # Valid again (an operator's mistake undone): stapled again.
    responder.stop()
    pki.mark(revoked=False)
    responders(pki, port)
    assert wait_until(lambda: staple(gh.tls_port) == "good", 15), gh.logs()[-3000:]


def test_responder_down_serves_without_a_staple(gatehouse, origin, fast_refresh, tmp_path):
    port = free_port()   # nothing listens there
    pki = Pki(tmp_path, port)
    gh = front(gatehouse, origin, pki)
    assert wait_until(lambda: "fetch failed" in gh.logs(), 10), gh.logs()[-3000:]
    assert staple(gh.tls_port) == "none"
    r = th.https_request(gh.tls_port, target="/small", sni=NAME, cafile=pki.ca_pem)
    assert r.status == 200


def test_certificate_without_a_responder_is_not_stapled(gatehouse, origin, responders, tmp_path):
    port = free_port()
    pki = Pki(tmp_path, port, aia=False)
    responders(pki, port)
    gh = front(gatehouse, origin, pki)
    time.sleep(0.5)
    assert staple(gh.tls_port) == "none"
    assert "OCSP" not in gh.logs()
