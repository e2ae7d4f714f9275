"""jwt (CONTRACT.md, "Policies (wave 2)", docs/jwt.md): bearer tokens minted
here with PyJWT and python3-cryptography, checked by gatehouse against a JWK
Set from a file or a URL. Valid RS256/ES256/EdDSA tokens pass with their
claims in upstream fields; every kind of bad token gets 401 with
WWW-Authenticate: Bearer; client-sent claim fields never reach the backend;
a replaced jwks_file counts after SIGHUP; a jwks_url rotation is picked up
through the unknown-kid refetch.
"""

import base64
import hashlib
import hmac
import json
import re
import signal
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import jwt as pyjwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

from helpers import http_request, route, run_gatehouse, wait_until

pytestmark = pytest.mark.deadline(30)

FRONT = "front.test"
ISSUER = "https://idp.test"
AUDIENCE = "my-api"


# --------------------------------------------------------------------------
# Keys and tokens


class Key:
    def __init__(self, kind, kid):
        self.kid = kid
        if kind == "rsa":
            self.priv, self.alg, self.to_jwk = rsa.generate_private_key(65537, 2048), "RS256", RSAAlgorithm.to_jwk
        elif kind == "ec":
            self.priv, self.alg, self.to_jwk = ec.generate_private_key(ec.SECP256R1()), "ES256", ECAlgorithm.to_jwk
        else:
            self.priv, self.alg, self.to_jwk = ed25519.Ed25519PrivateKey.generate(), "EdDSA", OKPAlgorithm.to_jwk

    def jwk(self):
        j = json.loads(self.to_jwk(self.priv.public_key()))
        j["kid"] = self.kid
        return j

    def token(self, claims=None, kid=True, **header):
        c = good_claims()
        c.update(claims or {})
        c = {k: v for k, v in c.items() if v is not None}
        h = dict(header)
        if kid:
            h["kid"] = self.kid
        return pyjwt.encode(c, self.priv, algorithm=self.alg, headers=h)

    def public_pem(self):
        return self.priv.public_key().public_bytes(serialization.Encoding.PEM,
                                                   serialization.PublicFormat.SubjectPublicKeyInfo)


@pytest.fixture(scope="module")
def keys():
    return {"rsa": Key("rsa", "r1"), "ec": Key("ec", "e1"), "ed": Key("ed", "o1"),
            "rsa2": Key("rsa", "r2"), "ed2": Key("ed", "o2")}


def good_claims():
    now = int(time.time())
    return {"sub": "alice", "iss": ISSUER, "aud": AUDIENCE, "iat": now, "exp": now + 600,
            "roles": ["reader", "writer"]}


def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unsigned(header, claims):
    return b64(json.dumps(header).encode()) + "." + b64(json.dumps(claims).encode())


def write_jwks(path, *keys):
    Path(path).write_text(json.dumps({"keys": [k.jwk() for k in keys]}))


def bearer(tok):
    return [("Authorization", f"Bearer {tok}")]


def get(gh, headers=None, target="/x"):
    return http_request(gh.port, "GET", target, headers=headers, host=FRONT)


def details(resp):
    m = re.search(r'details="([^"]*)"', ", ".join(resp.headers_all("proxy-status")))
    return m.group(1) if m else ""


def jwt_front(gatehouse, backend, tmp_path, extra=None, jwks="./jwks.json"):
    conf = {"jwks_file": jwks, "issuer": ISSUER, "audiences": [AUDIENCE],
            "claims_to_headers": {"sub": "X-User", "roles": "X-Roles"}}
    conf.update(extra or {})
    return gatehouse({"server": {"reverse_proxy": [route(backend, "/", jwt=conf)]}})


@pytest.fixture
def front(gatehouse, capture_backend, tmp_path, keys):
    write_jwks(tmp_path / "jwks.json", keys["rsa"], keys["ec"], keys["ed"])
    b = capture_backend()
    return jwt_front(gatehouse, b, tmp_path), b


# --------------------------------------------------------------------------
# Acceptance


@pytest.mark.parametrize("kind", ["rsa", "ec", "ed"])
def test_valid_token_passes_with_claims_upstream(front, keys, kind):
    gh, b = front
    tok = keys[kind].token()
    r = get(gh, bearer(tok) + [("X-User", "mallory"), ("x-roles", "admin")])
    assert r.status == 200, (r, details(r))
    req = b.wait_requests(1)[-1]
    assert req.headers_all("x-user") == ["alice"], req.headers      # the forged one is gone
    assert req.headers_all("x-roles") == ["reader, writer"], req.headers
    assert req.headers_all("authorization") == [f"Bearer {tok}"]    # unchanged
    # Without kid: the keys that fit the alg are tried.
    assert get(gh, bearer(keys[kind].token(kid=False))).status == 200


def test_forged_claim_field_is_stripped_even_when_the_claim_is_absent(front, keys):
    gh, b = front
    r = get(gh, bearer(keys["ed"].token({"sub": None, "roles": None})) + [("X-User", "admin")])
    assert r.status == 200, details(r)
    req = b.wait_requests(1)[-1]
    assert not req.has("x-user") and not req.has("x-roles"), req.headers


def test_http2_request(front, keys):
    from test_http2 import H2Client
    gh, b = front
    with H2Client(gh.port) as c:
        ok = c.request("GET", "/h2", headers=[("authorization", "Bearer " + keys["ec"].token()),
                                              ("x-user", "mallory")])
        refused = c.request("GET", "/h2")
    assert ok.status == 200, ok
    assert b.wait_requests(1)[-1].headers_all("x-user") == ["alice"]
    assert refused.status == 401, refused
    assert dict(refused.headers).get("www-authenticate") == "Bearer", refused.headers


# --------------------------------------------------------------------------
# Refusals


def hs256_with_public_pem(key):
    """Algorithm confusion: HS256 keyed with the RSA public key's PEM."""
    signing_input = unsigned({"alg": "HS256", "typ": "JWT", "kid": key.kid}, good_claims())
    mac = hmac.new(key.public_pem(), signing_input.encode(), hashlib.sha256).digest()
    return signing_input + "." + b64(mac)


REFUSALS = {
    "malformed": (lambda k: "not-a-token", "malformed token"),
    "two_parts": (lambda k: "abc.def", "malformed token"),
    "bad_signature": (lambda k: Key("rsa", "r1").token(), "bad signature"),
    "expired": (lambda k: k["rsa"].token({"exp": int(time.time()) - 120}), "expired"),
    "nbf_future": (lambda k: k["ec"].token({"nbf": int(time.time()) + 300}), "not yet valid"),
    "wrong_iss": (lambda k: k["ed"].token({"iss": "https://evil.test"}), "wrong issuer"),
    "wrong_aud": (lambda k: k["ed"].token({"aud": ["other-api"]}), "wrong audience"),
    "no_exp": (lambda k: k["ed"].token({"exp": None}), "no expiry"),
    "alg_none": (lambda k: unsigned({"alg": "none"}, good_claims()) + ".", "malformed token"),
    "alg_none_sig": (lambda k: unsigned({"alg": "none"}, good_claims()) + ".AAAA", "algorithm not accepted"),
    "hs256_confusion": (lambda k: hs256_with_public_pem(k["rsa"]), "algorithm not accepted"),
    "unknown_kid": (lambda k: k["rsa2"].token(), "unknown key id"),
    # RS256 signed with the RSA key, but naming the Ed25519 key's kid.
    "kid_of_other_type": (lambda k: pyjwt.encode(good_claims(), k["rsa"].priv, algorithm="RS256",
                                                 headers={"kid": "o1"}), "no key for this algorithm"),
    "crit": (lambda k: k["ed"].token(crit=["exp"]), "unsupported critical header"),
}


@pytest.mark.parametrize("case", sorted(REFUSALS))
def test_bad_tokens_get_401_invalid_token(front, keys, case):
    gh, b = front
    make, why = REFUSALS[case]
    r = get(gh, bearer(make(keys)))
    assert r.status == 401, (case, r)
    assert r.headers_all("www-authenticate") == [
        f'Bearer error="invalid_token", error_description="{why}"'], r.headers
    assert details(r) == f"jwt: {why}", r.headers
    assert "error=http_request_denied" in r.header("proxy-status")
    time.sleep(0.1)
    assert not b.requests


@pytest.mark.parametrize("headers", [[], [("Authorization", "Basic YWxpY2U6eA==")]], ids=["none", "basic"])
def test_missing_token_gets_a_bare_challenge(front, headers):
    gh, b = front
    r = get(gh, headers)
    assert r.status == 401
    assert r.headers_all("www-authenticate") == ["Bearer"]
    assert details(r).startswith("jwt: ")
    assert wait_until(lambda: any(rec.get("status") == 401 and rec.get("policy") == "jwt"
                                  for rec in gh.access_log()), 5.0), gh.stdout()[-2000:]


def test_clock_skew(gatehouse, capture_backend, tmp_path, keys):
    write_jwks(tmp_path / "jwks.json", keys["ed"])
    late = keys["ed"].token({"exp": int(time.time()) - 10})
    gh = jwt_front(gatehouse, capture_backend(), tmp_path)
    assert get(gh, bearer(late)).status == 200                     # default skew: 30 s
    assert get(gh, bearer(keys["ed"].token({"exp": int(time.time()) - 60}))).status == 401
    strict = jwt_front(gatehouse, capture_backend(), tmp_path, {"clock_skew": "0s"})
    assert get(strict, bearer(late)).status == 401
    assert get(strict, bearer(keys["ed"].token({"nbf": int(time.time()) + 20}))).status == 401
    assert get(gh, bearer(keys["ed"].token({"nbf": int(time.time()) + 20}))).status == 200


# --------------------------------------------------------------------------
# Key sets: file + SIGHUP, URL + rotation


def test_jwks_file_replaced_and_sighup(gatehouse, capture_backend, tmp_path, keys):
    write_jwks(tmp_path / "jwks.json", keys["ed"])
    gh = jwt_front(gatehouse, capture_backend(), tmp_path)
    old, new = keys["ed"].token(), keys["ed2"].token()
    assert get(gh, bearer(old)).status == 200
    assert get(gh, bearer(new)).status == 401
    write_jwks(tmp_path / "jwks.json", keys["ed2"])
    before = gh.stderr().count("configuration reloaded")
    gh.signal(signal.SIGHUP)
    assert wait_until(lambda: gh.stderr().count("configuration reloaded") > before, 5.0), gh.stderr()
    assert get(gh, bearer(new)).status == 200
    r = get(gh, bearer(old))
    assert r.status == 401 and details(r) == "jwt: unknown key id"


def test_broken_jwks_file_is_a_config_error(tmp_path):
    (tmp_path / "jwks.json").write_text('{"keys": [{"kty": "EC", "crv": "P-256", "x": "AAAA"}]}')
    (tmp_path / "gh.yaml").write_text(
        "server:\n  reverse_proxy:\n    - path: /\n      port: 9\n      jwt:\n        jwks_file: ./jwks.json\n")
    res = run_gatehouse("check", "-c", str(tmp_path / "gh.yaml"))
    assert res.returncode == 1
    assert re.search(r"gh\.yaml:6:20: 'jwks_file' .*jwks\.json.*keys\[0\]", res.stderr + res.stdout), \
        res.stderr + res.stdout


class JwksServer:
    """A JWK Set over HTTP, swappable, counting fetches."""

    def __init__(self, *keys):
        self.body = b""
        self.fetches = 0
        self.set(*keys)
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                outer.fetches += 1
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(outer.body)))
                self.end_headers()
                self.wfile.write(outer.body)

            def log_message(self, *a):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/jwks.json"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def set(self, *keys):
        self.body = json.dumps({"keys": [k.jwk() for k in keys]}).encode()

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def jwks_server():
    started = []

    def start(*keys):
        s = JwksServer(*keys)
        started.append(s)
        return s

    yield start
    for s in started:
        s.stop()


def test_jwks_url_rotation_through_unknown_kid(gatehouse, capture_backend, keys, jwks_server):
    srv = jwks_server(keys["rsa"])
    b = capture_backend()
    # Server-wide: every route (and the server's own pipeline) shares one fetcher.
    gh = gatehouse({"server": {"jwt": {
        "jwks_url": srv.url, "audiences": [AUDIENCE], "claims_to_headers": {"sub": "X-User"}},
        "reverse_proxy": [route(b, "/other"), route(b, "/")]}})
    # The first request may wait for the first fetch.
    assert get(gh, bearer(keys["rsa"].token())).status == 200
    assert srv.fetches == 1
    srv.set(keys["rsa"], keys["ec"])
    r = get(gh, bearer(keys["ec"].token()))     # kid e1 unknown: refetch, then verified
    assert r.status == 200, details(r)
    assert srv.fetches == 2
    assert b.wait_requests(2)[-1].headers_all("x-user") == ["alice"]
    # Another unknown kid right away: refused without hammering the IdP.
    srv.set(keys["rsa"], keys["ec"], keys["ed"])
    r = get(gh, bearer(keys["ed"].token()))
    assert r.status == 401 and details(r) == "jwt: unknown key id"
    assert srv.fetches == 2
    # A reload fetches again at once (and keeps the keys meanwhile), unless
    # a fetch began in the last 0.5 s.
    time.sleep(0.6)
    before = gh.stderr().count("configuration reloaded")
    gh.signal(signal.SIGHUP)
    assert wait_until(lambda: gh.stderr().count("configuration reloaded") > before, 5.0), gh.stderr()
    assert wait_until(lambda: srv.fetches == 3, 5.0), srv.fetches
    assert wait_until(lambda: get(gh, bearer(keys["ed"].token())).status == 200, 3.0)


def test_jwks_url_refresh_and_unreachable_idp(gatehouse, capture_backend, keys, jwks_server, free_port):
    srv = jwks_server(keys["ed"])
    gh = gatehouse({"server": {"reverse_proxy": [route(capture_backend(), "/", jwt={
        "jwks_url": srv.url, "jwks_refresh": "10s"})]}})
    assert get(gh, bearer(keys["ed"].token())).status == 200
    # Keys held survive a failed fetch; a periodic refresh picks up the new set.
    srv.set(keys["ed2"])
    assert wait_until(lambda: srv.fetches >= 2, 15.0)
    assert wait_until(lambda: get(gh, bearer(keys["ed2"].token())).status == 200, 3.0)
    # An IdP that never answered: no keys, 503 after a short wait.
    dead = gatehouse({"server": {"reverse_proxy": [route(capture_backend(), "/", jwt={
        "jwks_url": f"http://127.0.0.1:{free_port()}/jwks.json"})]}})
    r = get(dead, bearer(keys["ed"].token()))
    assert r.status == 503 and details(r) == "jwt: signing keys not fetched yet", r
    assert get(dead).status == 401   # no token: refused without waiting


def test_hanging_idp_blocks_neither_requests_nor_shutdown(gatehouse, capture_backend, keys):
    idp = capture_backend(mode="hang")
    gh = gatehouse({"server": {"reverse_proxy": [route(capture_backend(), "/", jwt={
        "jwks_url": f"http://{idp.address}/jwks.json"})]}})
    t0 = time.monotonic()
    r = get(gh, bearer(keys["ed"].token()))
    assert r.status == 503, r
    assert time.monotonic() - t0 < 5.0      # waited for the first fetch, boundedly
    idp.wait_requests(1)
    t0 = time.monotonic()
    gh.stop()                                # the fetch in progress does not hold the exit
    assert time.monotonic() - t0 < 5.0
