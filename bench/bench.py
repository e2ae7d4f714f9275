#!/usr/bin/python3
"""Side-by-side benchmark driver: nginx, HAProxy, gatehouse, HAProxy mode tcp
(and Varnish, in the cachehit case only).

Started by bench/run.sh (which installs the tools, builds gatehouse and
raises the fd limit); see docs/benchmarks.md for what is measured and how.
Stdlib only.

usage: bench.py [case...]      cases: small policies ratelimit ratelimit-redis fauth jwt waf many newconn large1m large100m upload1m idle10k ws
                                      tls tlsnew tlsresume tls1m tls100m idle10k-tls idle10k-tls-nothing
                                      idle10k-tls-half h2 grpc gzip1m br1m zstd1m compress100 cachehit
                                      passthrough (TLS by SNI to a TLS backend, nginx ssl_preread)

The grpc case also needs Debian's python3-grpcio, for its backend and its
checks (bench/backends/grpc_echo.py, run as a separate process).

`bench.py --cache-origin PORT FILE` is the cachehit case's origin (started
by the driver itself, see CACHE_NOTES): FILE's bytes with Cache-Control.
"""
import base64
import datetime
import hashlib
import http.client
import json
import os
import platform
import re
import shlex
import shutil
import ssl
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import warnings
import zlib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
PY = "/usr/bin/python3"
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")

QUICK = os.environ.get("BENCH_QUICK", "") not in ("", "0")
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "1" if QUICK else "3"))
BUILD = Path(os.environ.get("BENCH_BUILD", ROOT / "build-bench"))
# The cachehit case's object: the first N bytes of demo-origin's /text/N.
CACHE_OBJECT_BYTES = 512
CACHE_CONTROL = "max-age=3600"
PROXIES = ["nginx", "haproxy", "gatehouse", "haproxy-tcp", "varnish"]
KNOWN_PROXIES = tuple(PROXIES)
# The proxies of a case that names none: Varnish takes part in the cache
# case only (it is a cache, not a general-purpose reverse proxy here).
DEFAULT_CASE_PROXIES = ("nginx", "haproxy", "gatehouse", "haproxy-tcp")
if os.environ.get("BENCH_PROXIES"):
    PROXIES = [p for p in os.environ["BENCH_PROXIES"].replace(",", " ").split() if p]

# The waf case's request fields: what a browser sends (CRS scores requests
# that lack Accept or User-Agent).
WAF_HEADERS = ["User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
               "Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
               "Accept-Language: en-US,en;q=0.5", "Accept-Encoding: identity"]

# name: what the load is; n/c = requests (or messages, or connections) and
# client connections for a full run, qn/qc for BENCH_QUICK=1.
CASES = {
    "small": dict(kind="h2load", path="/small", n=200000, c=32, qn=20000, qc=32,
                  title="keep-alive GET /small (13-byte body)"),
    # small through a route with policies (bench/conf/*.in: /policy). Only
    # nginx and gatehouse: see POLICY_NOTES.
    "policies": dict(kind="h2load", path="/policy/small", n=200000, c=32, qn=20000, qc=32,
                     auth=True, proxies=("nginx", "gatehouse"), compare="small",
                     title="keep-alive GET /small through a route with policies: header rules, "
                           "an allow list, basic auth (valid credentials on every request; "
                           "gatehouse: bcrypt, verified once per worker then cached; nginx: no cache, "
                           "a one-hash {SSHA} entry checked on every request)"),
    # Issue 15's policies, each on its own route beside / (bench/conf/*-<extra>.*.in),
    # measured against `small` (the same request without the policy). Before
    # each measurement a guard request must be refused by the policy (so it
    # really acts), and every request of the warm-up and the load must get a
    # 2xx (a fast refusal would make a fine-looking, meaningless figure).
    # See POLICY2_NOTES.
    "ratelimit": dict(kind="h2load", path="/rl/small", n=200000, c=32, qn=20000, qc=32,
                      extra="ratelimit", all_2xx=True, guard=("/rl-tight/small", {}, 429, 2),
                      proxies=("nginx", "gatehouse"), compare="small",
                      title="keep-alive GET /small through a local rate limit keyed by client address, "
                            "never reached (gatehouse `rate_limit`, nginx `limit_req`)"),
    "ratelimit-redis": dict(kind="h2load", path="/rlr/small", n=100000, c=32, qn=10000, qc=32,
                            extra="ratelimit-redis", redis=True, all_2xx=True,
                            guard=("/rlr-tight/small", {}, 429, 2), proxies=("gatehouse",), compare="small",
                            title="keep-alive GET /small through a rate limit shared in Redis "
                                  "(`store: redis`; redis-server on the backend's CPU), never reached; "
                                  "gatehouse only"),
    "fauth": dict(kind="h2load", path="/fauth/small", n=100000, c=32, qn=10000, qc=32,
                  extra="fauth", all_2xx=True, guard=("/fauth-deny/small", {}, 401, 1),
                  proxies=("nginx", "gatehouse"), compare="small",
                  title="keep-alive GET /small behind an auth service that answers 200 to every "
                        "sub-request (demo-origin's /small; nothing cached): gatehouse `forward_auth`, "
                        "nginx `auth_request`"),
    "jwt": dict(kind="h2load", path="/jwt/small", n=200000, c=32, qn=20000, qc=32,
                extra="jwt", bearer=True, all_2xx=True, guard=("/jwt/small", {}, 401, 1),
                proxies=("gatehouse",), compare="small",
                title="keep-alive GET /small with an ES256 JWT on every request (`jwt`: JWKS file, issuer, "
                      "audience, one claim to a header; the signature verified once per worker, then the "
                      "token remembered until it expires, as docs/jwt.md says); gatehouse only"),
    "waf": dict(kind="h2load", path="/waf/small?q=blue+shoes&page=2", n=50000, c=32, qn=5000, qc=32,
                extra="waf", all_2xx=True, headers=WAF_HEADERS,
                guard=("/waf/small?id=1%27%20OR%20%271%27=%271", dict(h.split(": ", 1) for h in WAF_HEADERS), 403, 1),
                proxies=("nginx", "gatehouse"), compare="small",
                title="keep-alive GET /small with a query and browser-like headers through ModSecurity "
                      "and the OWASP CRS (paranoia level 1, blocking): gatehouse `waf`, nginx with "
                      "Debian's ModSecurity connector"),
    "many": dict(kind="h2load", path="/small", n=200000, c=1000, qn=20000, qc=1000,
                 title="keep-alive GET /small from 1,000 client connections at once"),
    "newconn": dict(kind="h2load", path="/small", n=10000, c=32, qn=3000, qc=32,
                    headers=["Connection: close"],
                    title="new connection per request: GET /small with `Connection: close`"),
    "large1m": dict(kind="h2load", path="/bytes/1048576", n=1000, c=8, qn=200, qc=8,
                    resp_bytes=1 << 20, title="1 MiB responses, keep-alive"),
    "large100m": dict(kind="h2load", path="/bytes/104857600", n=6, c=2, qn=2, qc=2,
                      resp_bytes=100 << 20, title="100 MiB responses, keep-alive"),
    "upload1m": dict(kind="h2load", path="/upload", n=400, c=8, qn=100, qc=8,
                     upload_bytes=1 << 20,
                     title="1 MiB POST uploads to /upload (the backend hashes each body)"),
    "idle10k": dict(kind="idle", n=10000, c=200, qn=2000, qc=200,
                    title="idle keep-alive client connections (one GET each, then silent)"),
    # Idle TLS connections, on the HTTPS listener: handshake, then as idle10k
    # (one GET, then silent), or nothing more, or half a request head.
    "idle10k-tls": dict(kind="idle", tls=True, then="get", n=10000, c=200, qn=1000, qc=100,
                        title="idle keep-alive TLS connections (handshake, one GET each, then silent)"),
    "idle10k-tls-nothing": dict(kind="idle", tls=True, then="nothing", n=10000, c=200, qn=1000, qc=100,
                                title="idle TLS connections (handshake, then nothing)"),
    "idle10k-tls-half": dict(kind="idle", tls=True, then="half", n=10000, c=200, qn=1000, qc=100,
                             title="slow TLS clients (handshake, then half a request head, then silent)"),
    "ws": dict(kind="ws", path="/ws", n=16000, c=32, qn=4000, qc=16,
               title="WebSocket echo: 32-byte messages, one round trip at a time per connection"),
    # L4: bytes relayed by a `streams` listener (gatehouse) and by HAProxy mode
    # tcp, from bench/clients/tcp.py to bench/backends/tcp_sink.py (which
    # checks the count). n: MiB in all, c: connections at once. CPU per GiB.
    "tcp1g": dict(kind="tcp", n=1024, c=1, qn=256, qc=1, proxies=("haproxy-tcp", "gatehouse"),
                  title="a TCP stream relaying 1 GiB (client -> proxy -> sink), one connection"),
    # HTTPS: every proxy terminates TLS with the same certificate and key (made
    # once per run, see make_cert) on a second listener beside the plain one.
    "tls": dict(kind="h2load", tls=True, path="/small", n=100000, c=32, qn=10000, qc=32,
                title="keep-alive HTTPS GET /small (TLS 1.3; one handshake per connection, "
                      "then requests only)"),
    # The large cases over HTTPS (TLS 1.3, HTTP/1.1): the proxy decrypts
    # nothing but requests and encrypts every body byte, so these measure the
    # TLS byte path (record building, encryption, the writes) rather than
    # handshakes. HAProxy mode tcp terminates TLS too and relays the bytes.
    "tls1m": dict(kind="h2load", tls=True, path="/bytes/1048576", n=1000, c=8, qn=200, qc=8,
                  resp_bytes=1 << 20, compare="large1m",
                  title="1 MiB responses over keep-alive HTTPS (TLS 1.3, HTTP/1.1)"),
    "tls100m": dict(kind="h2load", tls=True, path="/bytes/104857600", n=6, c=2, qn=2, qc=2,
                    resp_bytes=100 << 20, compare="large100m",
                    title="100 MiB responses over keep-alive HTTPS (TLS 1.3, HTTP/1.1)"),
    "tlsnew": dict(kind="tls", mode="full", path="/small", n=6000, c=32, qn=1000, qc=32,
                   title="a new TLS connection per request, full handshake (no session offered): "
                         "GET /small with `Connection: close`"),
    "tlsresume": dict(kind="tls", mode="resume", path="/small", n=6000, c=32, qn=1000, qc=32,
                      title="a new TLS connection per request, session resumed from a ticket: "
                            "GET /small with `Connection: close`"),
    # TLS passthrough by SNI (issue 17): the proxy reads the ClientHello and
    # relays the connection untouched to a TLS backend (an nginx of its own
    # that terminates, on the backend's CPU), so the proxy's CPU per
    # connection is the peek, the backend connect and the relay, no TLS.
    # gatehouse `streams` with `sni`; nginx `stream` with `ssl_preread` and a
    # map (bench/conf/*-passthrough.*.in). See PASSTHROUGH_NOTES.
    "passthrough": dict(kind="tls", mode="full", passthrough=True, path="/small", n=6000, c=32,
                        qn=1000, qc=32, proxies=("nginx", "gatehouse"),
                        title="TLS passthrough by SNI: a new TLS connection per request, relayed "
                              "untouched to a TLS backend (full handshake there), "
                              "GET /small with `Connection: close`"),
    # HTTP/2 from the client over TLS (ALPN h2, checked), HTTP/1.1 to the
    # backend as in every other case. HAProxy mode tcp relays bytes to an
    # HTTP/1.1 backend, so it cannot take HTTP/2 clients: left out.
    "h2": dict(kind="h2load", tls=True, h2=True, m=10, path="/small", n=100000, c=32, qn=10000, qc=32,
               proxies=("nginx", "haproxy", "gatehouse"), compare="tls",
               title="keep-alive HTTPS GET /small over HTTP/2 (TLS 1.3, ALPN h2): "
                     "32 connections × 10 concurrent streams, HTTP/1.1 to the backend"),
    # gRPC unary calls, HTTP/2 both ways: h2c with prior knowledge from h2load
    # to the proxy and from the proxy to a grpcio backend
    # (bench/backends/grpc_echo.py). Not HAProxy mode tcp (no HTTP work to
    # compare: it would relay the client's h2c connection as it is).
    "grpc": dict(kind="h2load", grpc=True, m=10, path="/bench.Echo/Echo", n=50000, c=8, qn=5000, qc=8,
                 proxies=("nginx", "haproxy", "gatehouse"),
                 title="gRPC unary calls over h2c (cleartext HTTP/2 both ways): a 32-byte message "
                       "echoed by a grpcio backend, 8 connections × 10 concurrent streams"),
    # On-the-fly compression of demo-origin's /text/N (deterministic HTML-like
    # text, about 4x with gzip -5) on a route that compresses (bench/conf/*.in:
    # /text), the client accepting one coding. gzip: nginx (gzip_comp_level 5)
    # and gatehouse (its default level, 5). br and zstd: gatehouse only
    # (Debian's nginx-light has no brotli or zstd module). HAProxy is left out
    # of all: see COMPRESS_NOTES. Before each measurement a real client (curl)
    # fetches one response: Content-Encoding must be the coding, the decoded
    # body the backend's bytes; its coded size gives the ratio.
    "gzip1m": dict(kind="h2load", path="/text/1048576", coding="gzip", n=1000, c=8, qn=100, qc=8,
                   resp_bytes=1 << 20, headers=["Accept-Encoding: gzip"], proxies=("nginx", "gatehouse"),
                   compare="large1m",
                   title="1 MiB HTML-like responses compressed on the fly with gzip level 5, keep-alive"),
    "br1m": dict(kind="h2load", path="/text/1048576", coding="br", n=1000, c=8, qn=100, qc=8,
                 resp_bytes=1 << 20, headers=["Accept-Encoding: br"], proxies=("gatehouse",),
                 compare="large1m",
                 title="1 MiB HTML-like responses compressed on the fly with brotli (gatehouse's default "
                       "level, 5), keep-alive; gatehouse only"),
    "zstd1m": dict(kind="h2load", path="/text/1048576", coding="zstd", n=1000, c=8, qn=100, qc=8,
                   resp_bytes=1 << 20, headers=["Accept-Encoding: zstd"], proxies=("gatehouse",),
                   compare="large1m",
                   title="1 MiB HTML-like responses compressed on the fly with zstd (gatehouse's default "
                         "level, 3), keep-alive; gatehouse only"),
    # Memory while compressing: n slow readers of an endless (1 GiB) gzip-coded
    # /text response at once, each reading `rate` bytes per second for `secs`
    # seconds, then reset (bench/clients/slowread.py); c: connections opened
    # at once. RSS sampled like large100m, per stream like idle10k.
    "compress100": dict(kind="slow", path="/text/1073741824", check_path="/text/1048576", coding="gzip",
                        n=100, c=100, qn=100, qc=100, secs=10, qsecs=3, rate=16 << 10,
                        proxies=("nginx", "gatehouse"),
                        title="memory while compressing: 100 slow clients at once, each reading a "
                              "gzip-coded endless /text response at 16 KiB/s"),
    # A small object served from each proxy's own cache: the origin says
    # `Cache-Control: max-age=3600` and each proxy honours it (no TTL set in
    # any config). Before each measurement a miss stores it and a second GET
    # must be a hit (the proxy's cache header, and the origin's count); the
    # origin must see no request during the measured load. See CACHE_NOTES.
    "cachehit": dict(kind="h2load", cache=True, path="/cache/obj", n=200000, c=32, qn=20000, qc=32,
                     proxies=("nginx", "haproxy", "gatehouse", "varnish"), compare="small",
                     title=f"keep-alive GET of a {CACHE_OBJECT_BYTES}-byte text object served from each "
                           f"proxy's cache (the origin's `Cache-Control: {CACHE_CONTROL}`)"),
}
# Said under the cachehit table.
CACHE_NOTES = f"""\
Notes: the object is the first {CACHE_OBJECT_BYTES} bytes of demo-origin's `/text/N`
(HTML-like text), served by the case's own origin, `bench.py --cache-origin`
(Python stdlib, one process pinned like demo-origin: demo-origin has no path
that sends `Cache-Control`), with `Content-Type: text/html; charset=utf-8`,
`Date` and `Cache-Control: {CACHE_CONTROL}`, and nothing else that matters to a
cache (no `Vary`, no validators, no cookies). Each proxy routes `/cache/` to
it and stores what the origin allows, with no lifetime of its own: gatehouse
`cache: true` on route `/cache` (its memory store); nginx `proxy_cache` in a
`proxy_cache_path` of the scratch directory (keys in shared memory, bodies in
files, read through the page cache), no `proxy_cache_valid`; HAProxy a
`cache` section (memory, `max-age 3600` as the cap of the origin's lifetime:
its default cap is 60 s), `cache-use`/`cache-store` in the route's backend;
Varnish 7.1 with `-s malloc,256m` and the builtin VCL's rules (TTL from the
origin's `max-age`), one thread pool (`-p thread_pools=1`: Varnish serves each
active connection on a thread of its pool, so it cannot run on one thread;
every thread is pinned to the proxy's one CPU, as the other proxies are).
Every proxy adds its forwarding headers upstream on a miss and `Via` and a
request id to every response, hits included (Varnish: its own `Via`, and
`req.xid` as `X-Request-ID`, as it has no UUID generator in its standard
vmods); nginx, HAProxy and Varnish also say hit or miss in `X-Cache-Status`
(`$upstream_cache_status`, `res.cache_hit`, `obj.hits`), gatehouse in its
`Cache-Status`. Checked before each measurement: a first `GET` (a miss, which
stores), then a second must say hit and reach the origin no more; then the
origin's count of requests must not move during the warm-up nor the measured
load, and every response must be 2xx with the object's {CACHE_OBJECT_BYTES}
bytes (h2load's data bytes): a measurement of a miss path fails instead.
"""
# Said under the tables of the compression cases.
COMPRESS_NOTES = """\
Notes: the route compresses demo-origin's `/text/N`, deterministic HTML-like
text (sections, headings, paragraphs, lists, links of common words; zlib
gives it 4.0x at level 5, as real pages get). Each response is 1 MiB before
coding, so CPU µs per request is CPU µs per MiB of original body, and MiB/s
counts original bytes. "coded bytes" is the body one `curl -H
'Accept-Encoding: <coding>'` received through the proxy before the
measurement (`%{size_download}`); the same check requires `Content-Encoding:
<coding>` and that `curl --compressed` (and, for gzip, Python's zlib too)
decodes the body to the backend's bytes. "under load" is h2load's data bytes
per response in the measured run: responses that went out uncoded (or coded
otherwise) would show there, and fail the measurement beyond 1 % off. nginx:
`gzip on; gzip_comp_level 5; gzip_min_length 1k; gzip_proxied any;
gzip_vary on` on `location /text/`; gatehouse: `compress: {algorithms: [gzip,
br, zstd]}` on route `/text` (default levels gzip 5, br 5, zstd 3; the
client accepts one coding). gatehouse flushes the coder after each piece of
body it relays (docs/configuration.md, `compress`) so that streamed
responses reach the client as they come; nginx, with proxy buffering on
(its default), does not flush mid-body, which gives it a slightly better
ratio at the same level. With `-c 8` one core codes 8 responses in turn:
see docs/benchmarks.md (Caveats) on how CPU per MiB varies with that.
HAProxy is left
out: Debian's HAProxy 2.6 is built with libslz (`USE_SLZ=1`, `-ZLIB` in
`haproxy -vv`), a stateless deflate encoder whose only levels are 0 (stored)
and 1, so `tune.comp.maxlevel` cannot ask it for level 5: its CPU and ratio
would be those of other work. HAProxy mode tcp cannot compress at all.
"""
# Said under the compress100 table.
SLOW_NOTES = """\
Notes: every stream asks for 1 GiB of `/text` (none ends during the case),
coded with gzip as in `gzip1m` (the same routes; checked before each
measurement on `/text/1048576`). Each client connection advertises an MSS
of 1460 (as over Ethernet) and a 16 KiB receive buffer, and reads 16 KiB of
coded bytes per second: each proxy holds 100 responses in the middle of
compressing them, its reads from the backend paced by what the clients take.
(With loopback's 64 KiB segments the kernel grows the proxy's send buffer of
every connection towards 4 MiB, and the proxies spend the case coding text
to fill 400 MB of socket buffers; with MSS 1460 it is about 400 KiB each,
filled in the first seconds. That is kernel memory, not in RSS; "CPU s", the
proxy's CPU over the whole case, is mostly that filling, not the steady
pace.) "all streaming after": seconds from the first connect until every
stream had its response head and body bytes; the RSS figures are taken from
then on. "coded": streams whose response said `Content-Encoding: gzip`
(gatehouse sends a response uncoded when its per-worker budget of coder
memory, 64 MiB, is spent; 100 gzip coders take about 26 MiB of it). KiB per
stream: (RSS max − RSS before the clients connected) / streams. RSS at 1 s
and at the end show whether memory grows while the same streams go on (it
should stay flat). "MiB read": coded bytes all clients read. errors: streams
that failed, ended early or came uncoded.
"""
# Said under the passthrough table.
PASSTHROUGH_NOTES = """\
Notes: the TLS is the backend's (an nginx of its own on the backend's CPU,
bench/conf/nginx-tls-origin.conf.in, answering /small itself); before each
measurement a request with SNI `localhost` through the proxy must come back
marked by that backend with the run's certificate (the proxy relayed, it did
not terminate). The proxy's CPU per connection is the accept, the ClientHello
read without consuming it (gatehouse: recv(MSG_PEEK) until the whole
ClientHello is there; nginx: `ssl_preread`), the backend connect and the
relay of the handshake and one small exchange. gatehouse: `streams` with
`sni: [localhost]`; nginx: `stream { ssl_preread on; map
$ssl_preread_server_name ... }` (libnginx-mod-stream). HAProxy is left out
(mode tcp with `req.ssl_sni` would be the same comparison a third time).
"""
# The proxies that take part in the grpc case (they get its listener and route).
GRPC_PROXIES = ("nginx", "haproxy", "gatehouse")
# The grpc case's message (the gRPC frame adds a 5-byte prefix: flag, length).
GRPC_PAYLOAD = bytes(range(32))
# Said under the policies table.
POLICY_NOTES = """\
Notes: the route strips `/policy`, sets `X-Env: bench` and removes `X-Debug`
upstream, sets `X-Frame-Options: DENY` on responses, allows only 127.0.0.0/8
and asks for basic auth; h2load sends valid credentials on every request.
Before each measurement the bench checks, per proxy, 200 with the right body
and `X-Frame-Options` with credentials, 401 without, and `X-Env` (and no
`Authorization`) at the backend; any non-2xx status fails the measurement.
gatehouse reads a bcrypt entry (cost 10) and caches a verified credential per
worker for 60 s, so bcrypt runs in the warm-up only. nginx has no such cache
and calls crypt() on every request: with the same bcrypt entry it answers 200
at about 55 ms of CPU per request (measured once on a 2-core EPYC VM), so
200,000 requests would take hours; it reads instead a file with the same user
and password as an `{SSHA}` entry (one salted SHA-1 per request, about what
gatehouse's cache lookup costs: one SHA-256). HAProxy is left out: its
`userlist` + `http-request auth` also calls crypt() on every request with no
cache, so a bcrypt password is impractical, and a weaker crypt(3) scheme
would measure that hash rather than the policies. HAProxy mode tcp cannot do
this work at all.
"""

# Said under the tcp1g table.
TCP_NOTES = """\
Notes: HAProxy's stream listener forces splice(2) both ways (`option
splice-request`, `option splice-response`; off by default, when HAProxy
copies through its buffers) with 256 KiB pipes (`tune.pipesize 262144`, the
size gatehouse's streams ask with F_SETPIPE_SZ), so both proxies move the
bytes socket -> pipe -> socket in the kernel with the same number of splice
calls; gatehouse's listener is a `streams` entry with `listen`. The client
and the sink are Python (one CPU between them), so MiB/s is theirs more
than the proxies'; CPU per GiB is the figure.
"""

# Said under the tables of issue 15's policy cases.
POLICY2_NOTES = """\
Notes: each policy sits on its own route (bench/conf/gatehouse-<case>.yaml.in,
nginx-<case>*.conf.in), prefix stripped, to demo-origin's /small, and is
compared with `small` (the same request on `/`) in the same run. Before each
measurement a guard request must be refused by the policy itself (ratelimit:
a second request on a 1/m route gets 429; fauth: a route whose auth service
answers 401 gets 401; jwt: no token gets 401; waf: `?id=1' OR '1'='1` gets
403), and every request of the warm-up and the measured load must get a 2xx.
ratelimit: gatehouse `rate_limit: {rate: 100000000/s, key: client_ip}`, nginx
`limit_req` in a 1 MB zone keyed by `$binary_remote_addr` at 100000000r/s.
ratelimit-redis: `store: redis` against a redis-server (`--save ''`, no AOF)
pinned with the backend; one Lua script (EVALSHA) per request.
fauth: the auth service is demo-origin's /small (200, nothing cached, keep-alive
connections from the proxy); gatehouse `forward_auth` with `copy_headers:
[Remote-User]`; nginx `auth_request` to an internal location with the same
X-Forwarded-* fields and `auth_request_set` of Remote-User.
jwt: an ES256 token (P-256, `kid`, `iss`, `aud`, `exp` a day ahead, `sub`)
minted once per run, its key in a JWKS file; `claims_to_headers: {sub:
X-User}`. nginx (open source) and HAProxy 2.6 have no JWKS-based check: left out.
waf: the CRS of Debian's modsecurity-crs at paranoia level 1, anomaly
blocking, request body access on, with the same engine directives in both
(bench/conf/modsecurity-bench.conf.in); nginx loads Debian's
ngx_http_modsecurity_module (libnginx-mod-http-modsecurity) for this case only.
"""

# The key of the run's certificate: ECDSA P-256 (default) or RSA 2048.
TLS_KEY = os.environ.get("BENCH_TLS_KEY", "ec256")
TLS_KEYS = {"ec256": (["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"], "ECDSA P-256"),
            "rsa2048": (["-newkey", "rsa:2048"], "RSA 2048")}

children = []  # every Popen we started, killed at exit
scratch = {"dir": None, "keep": False}  # the temp dir: configs, logs; removed at exit


def log(*a):
    print(*a, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- processes

def proc_tree(root):
    """root and all its descendants (nginx master + workers)."""
    parent = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    st = f.read()
                parent[int(d)] = int(st[st.rindex(")") + 2:].split()[1])
            except (OSError, ValueError):
                pass
    out, todo = [], [root]
    while todo:
        p = todo.pop()
        out.append(p)
        todo += [c for c, pp in parent.items() if pp == p]
    return out


def cpu_seconds(pids):
    """utime + stime of the processes (all their threads), in seconds."""
    ticks = 0
    for p in pids:
        try:
            with open(f"/proc/{p}/stat") as f:
                st = f.read()
            fields = st[st.rindex(")") + 2:].split()
            ticks += int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15)
        except OSError:
            pass
    return ticks / CLK_TCK


def cpu_ns(pids):
    """The same total, unrounded: the kernel's per-thread sum_exec_runtime
    (first field of /proc/<pid>/task/<tid>/schedstat, ns), which it splits into
    utime and stime and rounds to clock ticks for /proc/<pid>/stat. Only live
    threads count here, so the caller checks it against cpu_seconds()."""
    total = 0
    for p in pids:
        try:
            tids = os.listdir(f"/proc/{p}/task")
        except OSError:
            continue
        for t in tids:
            try:
                with open(f"/proc/{p}/task/{t}/schedstat") as f:
                    total += int(f.read().split()[0])
            except (OSError, ValueError, IndexError):
                pass
    return total


class CpuMeter:
    """CPU time of the proxy's processes over one measured load."""

    def __init__(self, pids):
        self.pids = pids
        self.t0, self.ns0 = cpu_seconds(pids), cpu_ns(pids)

    def finish(self):
        self.t1, self.ns1 = cpu_seconds(self.pids), cpu_ns(self.pids)

    def per(self, count):
        """-> (µs per unit, details). utime+stime from /proc/<pid>/stat is the
        reference; the ns figure replaces it when both agree within the ticks'
        rounding (it removes the 10 ms quantisation on short loads)."""
        ticks_s = self.t1 - self.t0
        ns_s = (self.ns1 - self.ns0) / 1e9
        slack = (len(self.pids) + 1) / CLK_TCK + 0.02 * ticks_s
        precise = abs(ns_s - ticks_s) <= slack
        if not precise:
            log(f"  note: schedstat ({ns_s:.3f}s) and utime+stime ({ticks_s:.3f}s) disagree; using utime+stime")
        used = ns_s if precise else ticks_s
        return used * 1e6 / max(count, 1), dict(cpu_s=used, cpu_stat_s=ticks_s, cpu_sched_s=ns_s)


def rss_bytes(pids):
    total = 0
    for p in pids:
        try:
            with open(f"/proc/{p}/statm") as f:
                total += int(f.read().split()[1]) * PAGE
        except OSError:
            pass
    return total


def hwm_bytes(pids):
    """Sum of VmHWM (peak resident set) over the processes."""
    total = 0
    for p in pids:
        try:
            with open(f"/proc/{p}/status") as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        total += int(line.split()[1]) * 1024
        except OSError:
            pass
    return total


class RssSampler(threading.Thread):
    """Samples the summed VmRSS of the proxy every 50 ms while a load runs."""

    def __init__(self, pids):
        super().__init__(daemon=True)
        self.pids, self.max, self.stop_ev = pids, 0, threading.Event()

    def run(self):
        while not self.stop_ev.is_set():
            self.max = max(self.max, rss_bytes(self.pids))
            self.stop_ev.wait(0.05)

    def stop(self):
        self.stop_ev.set()
        self.join()
        self.max = max(self.max, rss_bytes(self.pids))
        return self.max


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pinned(cpus, argv):
    return ["taskset", "-c", cpus] + argv if cpus else argv


def start(argv, logfile, cpus=None, **kw):
    f = open(logfile, "wb")
    p = subprocess.Popen(pinned(cpus, argv), stdout=f, stderr=subprocess.STDOUT,
                         stdin=subprocess.DEVNULL, start_new_session=True, **kw)
    f.close()
    children.append(p)
    record_pids([p.pid])
    return p


def record_pids(pids):
    """Tell bench/run.sh's exit trap which pids are ours (used if we die)."""
    if not os.environ.get("BENCH_PIDFILE"):
        return
    lines = []
    for p in pids:
        try:
            with open(f"/proc/{p}/stat") as f:
                st = f.read()
            lines.append(f"{p} {st[st.rindex(')') + 2:].split()[19]}\n")  # field 22: start time
        except (OSError, IndexError):
            pass
    with open(os.environ["BENCH_PIDFILE"], "a") as f:
        f.write("".join(lines))


def stop(p, pids=None, grace=5.0):
    """SIGTERM the process (and the descendants we saw), SIGKILL what is left."""
    pids = pids or [p.pid]
    for pid in pids:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    try:
        p.wait(grace)
    except subprocess.TimeoutExpired:
        pass
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    try:
        p.wait(5)
    except subprocess.TimeoutExpired:
        pass
    if p in children:
        children.remove(p)


def cleanup(*_):
    for p in list(children):
        try:
            pids = proc_tree(p.pid) if p.poll() is None else [p.pid]
        except OSError:
            pids = [p.pid]
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        children.remove(p)
    if scratch["dir"] and not scratch["keep"]:
        shutil.rmtree(scratch["dir"], ignore_errors=True)


def wait_port(port, proc, logfile, timeout=15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"exited with {proc.returncode}:\n{Path(logfile).read_text()[-2000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"not listening on {port} after {timeout}s:\n{Path(logfile).read_text()[-2000:]}")


def http_get(port, path, timeout=10, headers=None, response=False):
    """-> status, body (and the response's fields with response=True)."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        c.request("GET", path, headers=headers or {})
        r = c.getresponse()
        body = r.read()
        return (r.status, body, r.headers) if response else (r.status, body)
    finally:
        c.close()


def check_policies(env, proxy):
    """The policies case measures nothing unless the policies really act."""
    name, auth = proxy.name, dict([env.auth_field.split(": ", 1)])
    st, body, fields = http_get(proxy.port, "/policy/small", headers=auth, response=True)
    if st != 200 or body != b"hello, world\n":
        raise RuntimeError(f"{name}: GET /policy/small with credentials answered {st} {body[:80]!r}")
    if fields.get("X-Frame-Options") != "DENY":
        raise RuntimeError(f"{name}: no X-Frame-Options: DENY on /policy/small")
    st, _ = http_get(proxy.port, "/policy/small")
    if st != 401:
        raise RuntimeError(f"{name}: GET /policy/small without credentials answered {st}, not 401")
    st, body = http_get(proxy.port, "/policy/headers", headers=dict(auth, **{"X-Debug": "1"}))
    h = json.loads(body)["headers"] if st == 200 else {}
    if st != 200 or h.get("x-env") != "bench" or "authorization" in h or h.get("x-debug"):
        raise RuntimeError(f"{name}: /policy/headers answered {st}; the backend got {sorted(h.items())[:20]}")


def check_guard(env, proxy, case):
    """Issue 15's policy cases measure nothing unless the policy acts: its
    guard request must get the policy's refusal, and the measured request
    (with its fields) a 2xx."""
    path, fields, want, times = case["guard"]
    for _ in range(times):   # rate limits: the first requests spend the bucket
        st, _ = http_get(proxy.port, path, headers=fields)
    if st != want:
        raise RuntimeError(f"{proxy.name}: guard GET {path} answered {st}, not {want}: the policy does not act")
    hdrs = dict(h.split(": ", 1) for h in case.get("headers", []))
    if case.get("bearer"):
        hdrs["Authorization"] = f"Bearer {env.jwt_token}"
    st, _ = http_get(proxy.port, case["path"], headers=hdrs)
    if st != 200:
        raise RuntimeError(f"{proxy.name}: GET {case['path']} answered {st}, not 200")


def check_h2(env, proxy):
    """The h2 case measures HTTP/1.1 unless the proxy really picks h2:
    `curl --http2` over TLS must get HTTP/2, 200 and the right body."""
    try:
        out = subprocess.run(["curl", "--http2", "-sk", "--max-time", "10", "-o", "-",
                              "-w", "\n%{http_version} %{http_code}",
                              f"https://127.0.0.1:{proxy.tls_port}/small"],
                             capture_output=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise RuntimeError(f"{proxy.name}: curl --http2: {e}")
    body, _, tail = out.stdout.rpartition(b"\n")
    if out.returncode != 0 or tail.split() != [b"2", b"200"] or body != b"hello, world\n":
        raise RuntimeError(f"{proxy.name}: curl --http2 https://.../small: exit {out.returncode}, "
                           f"HTTP version and status {tail.decode(errors='replace')!r}, body {body[:80]!r}")


def backend_body(env, path):
    """The backend's own bytes for path (fetched once per run)."""
    cache = env.__dict__.setdefault("backend_bodies", {})
    if path not in cache:
        st, body = http_get(env.backend_port, path, timeout=30)
        if st != 200:
            raise RuntimeError(f"backend: GET {path} answered {st}")
        cache[path] = body
    return cache[path]


def check_compress(env, proxy, coding, path):
    """The compression cases measure nothing unless the proxy really codes:
    one `curl -H 'Accept-Encoding: <coding>'` through it must get 200 and
    `Content-Encoding: <coding>`, and the body must decode to the backend's
    bytes: `curl --compressed` decodes a second fetch (curl has zlib, brotli
    and zstd), and for gzip Python's zlib decodes the first too.
    -> the coded body's size, curl's `%{size_download}`."""
    expected = backend_body(env, path)
    url = f"http://127.0.0.1:{proxy.port}{path}"
    field = f"Accept-Encoding: {coding}"
    raw, head, dec = proxy.dir / "coded.body", proxy.dir / "coded.head", proxy.dir / "decoded.body"
    try:
        out = subprocess.run(["curl", "-s", "--max-time", "30", "-H", field, "-D", str(head), "-o", str(raw),
                              "-w", "%{http_code} %{size_download}", url],
                             capture_output=True, text=True, timeout=40)
        out2 = subprocess.run(["curl", "-s", "--max-time", "30", "--compressed", "-H", field, "-o", str(dec),
                               "-w", "%{http_code}", url], capture_output=True, text=True, timeout=40)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise RuntimeError(f"{proxy.name}: curl {url}: {e}")
    try:
        status, size = out.stdout.split()
        size = int(size)
    except ValueError:
        raise RuntimeError(f"{proxy.name}: curl {url}: exit {out.returncode}, {out.stdout!r} {out.stderr[-300:]!r}")
    fields = {}
    for line in head.read_text(errors="replace").splitlines()[1:]:
        name, sep, value = line.partition(":")
        if sep:
            fields[name.strip().lower()] = value.strip()
    ce = fields.get("content-encoding", "(none)")
    body = raw.read_bytes()
    decoded = dec.read_bytes() if dec.exists() else b""
    for f in (raw, head, dec):
        f.unlink(missing_ok=True)
    if out.returncode != 0 or status != "200" or ce.lower() != coding:
        raise RuntimeError(f"{proxy.name}: GET {path} with {field!r}: curl exit {out.returncode}, status {status}, "
                           f"Content-Encoding {ce}")
    if size != len(body):
        raise RuntimeError(f"{proxy.name}: curl's size_download {size} against {len(body)} bytes written")
    if out2.returncode != 0 or out2.stdout != "200" or decoded != expected:
        raise RuntimeError(f"{proxy.name}: curl --compressed {path} ({coding}): exit {out2.returncode}, "
                           f"status {out2.stdout}, {len(decoded)} bytes decoded, "
                           f"{'the backend' if decoded == expected else 'not the backend'}'s {len(expected)} bytes")
    if coding == "gzip":
        try:
            ok = zlib.decompress(body, 16 + zlib.MAX_WBITS) == expected
        except zlib.error as e:
            raise RuntimeError(f"{proxy.name}: its gzip body does not decode: {e}")
        if not ok:
            raise RuntimeError(f"{proxy.name}: its gzip body decodes to other bytes than the backend's")
    return size


# The field in which each proxy says whether a response came from its cache,
# and what a hit looks like there (bench/conf/*-cache*.in, varnish.vcl.in;
# gatehouse: RFC 9211 Cache-Status, docs/caching.md).
CACHE_HIT_FIELD = {"gatehouse": ("Cache-Status", lambda v: bool(re.match(r"gatehouse; *hit\b", v))),
                   "nginx": ("X-Cache-Status", lambda v: v == "HIT"),
                   "haproxy": ("X-Cache-Status", lambda v: v == "HIT"),
                   "varnish": ("X-Cache-Status", lambda v: v == "HIT")}


def origin_requests(env):
    """Requests the cachehit case's origin has answered so far (its /count,
    asked directly, not through a proxy)."""
    st, body = http_get(env.cache_origin_port, "/count")
    if st != 200:
        raise RuntimeError(f"cache origin: GET /count answered {st}")
    return json.loads(body)["requests"]


def check_cache(env, proxy, path):
    """The cachehit case measures a miss path unless the proxy really serves
    from its cache: a first GET (a miss, which stores), then a second one
    must say hit in the proxy's field and must not reach the origin; both
    200 with the object's bytes. -> the hit's field and Age, for the report."""
    name = proxy.name
    field, is_hit = CACHE_HIT_FIELD[name]
    n0 = origin_requests(env)
    answers = []
    for _ in range(2):
        st, body, fields = http_get(proxy.port, path, response=True)
        if st != 200 or body != env.cache_body:
            raise RuntimeError(f"{name}: GET {path} answered {st}, {len(body)} bytes "
                               f"({'the' if body == env.cache_body else 'not the'} origin's {len(env.cache_body)})")
        answers.append(fields)
        time.sleep(0.05)   # a proxy that stores after the response is sent has done it
    went = origin_requests(env) - n0
    value = answers[1].get(field)
    if value is None or not is_hit(value) or went > 1:
        raise RuntimeError(f"{name}: not served from its cache: the second GET {path} had {field}: {value} "
                           f"(first: {answers[0].get(field)}), and the origin got {went} of the 2 requests; "
                           "this would measure the miss path")
    age = answers[1].get("Age")
    return f"{field}: {value}" + (f", Age: {age}" if age is not None else ", no Age")


def serve_cache_origin(port, body_file):
    """The cachehit case's origin (`bench.py --cache-origin PORT FILE`):
    HTTP/1.1 keep-alive, GET or HEAD of any path under /cache/ -> 200 with
    FILE's bytes and Cache-Control (CACHE_CONTROL); GET /count -> JSON
    {"requests": n}, the requests it answered under /cache/. Python stdlib,
    one thread per connection: only misses reach it."""
    import http.server
    body = Path(body_file).read_bytes()
    lock = threading.Lock()
    count = [0]

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        def version_string(self):
            return "bench-cache-origin"

        def log_message(self, *a):
            pass

        def reply(self, status, ctype, data, extra=()):
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            for k, v in extra:
                self.send_header(k, v)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        def do_GET(self):
            if self.path == "/count":
                with lock:
                    n = count[0]
                self.reply(200, "application/json", json.dumps({"requests": n}).encode(),
                           [("Cache-Control", "no-store")])
            elif self.path.startswith("/cache/"):
                with lock:
                    count[0] += 1
                self.reply(200, "text/html; charset=utf-8", body, [("Cache-Control", CACHE_CONTROL)])
            else:
                self.reply(404, "text/plain", b"not found\n")

        do_HEAD = do_GET

    class Server(http.server.ThreadingHTTPServer):
        daemon_threads = True
        request_queue_size = 128

    Server(("127.0.0.1", port), Handler).serve_forever()


def grpc_client(*args, timeout=30):
    """bench/backends/grpc_echo.py as a client (grpcio stays out of this
    process, which forks the proxies and the loads) -> its JSON line."""
    what = "grpc_echo.py " + " ".join(map(str, args))
    try:
        out = subprocess.run([PY, str(BENCH / "backends" / "grpc_echo.py"), *map(str, args)],
                             capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise RuntimeError(f"{what}: {e}")
    try:
        return json.loads(out.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        raise RuntimeError(f"{what}: exit {out.returncode}: {out.stderr.strip()[-500:]}")


def check_grpc(env, proxy):
    """A real gRPC call through the proxy: status OK and the message echoed
    (h2load counts a gRPC error answered with `:status 200` as a success).
    -> the metadata the backend got (its /bench.Echo/Headers)."""
    r = grpc_client("check", proxy.grpc_port, GRPC_PAYLOAD.hex())
    if r["echo_status"] != "OK" or not r["echoed"] or r["headers_status"] != "OK":
        raise RuntimeError(f"{proxy.name}: gRPC call through it: Echo {r['echo_status']} "
                           f"{r['echo_details']!r} (echoed: {r['echoed']}), Headers {r['headers_status']}")
    return r["headers"]


def grpc_calls(env):
    """Echo calls the gRPC backend has served so far."""
    return grpc_client("count", env.grpc_backend_port)["calls"]


# ---------------------------------------------------------------- proxies

def render(template, values):
    text = (BENCH / "conf" / template).read_text()
    for k, v in values.items():
        text = text.replace(f"@@{k}@@", str(v))
    return text


def fill(template, out, values):
    out.write_text(render(template, values))
    return out


def make_cert(env):
    """One self-signed certificate and key for the whole run, used by every
    proxy: cert.pem, key.pem, and both in one file for HAProxy."""
    if TLS_KEY not in TLS_KEYS:
        raise SystemExit(f"bench: BENCH_TLS_KEY={TLS_KEY!r}; known: {' '.join(TLS_KEYS)}")
    d = Path(env.tmp)
    env.cert, env.key, env.cert_key = d / "cert.pem", d / "key.pem", d / "cert-key.pem"
    newkey, env.cert_desc = TLS_KEYS[TLS_KEY]
    subprocess.run(["openssl", "req", "-x509", *newkey, "-nodes", "-sha256", "-days", "2",
                    "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
                    "-keyout", str(env.key), "-out", str(env.cert)],
                   check=True, capture_output=True, timeout=60)
    env.cert_key.write_text(env.cert.read_text() + env.key.read_text())
    env.cert_der = ssl.PEM_cert_to_DER_cert(env.cert.read_text())


BENCH_USER, BENCH_PASSWORD = "bench", "bench-password-1"


def make_jwt(env):
    """The jwt case's key and token: an ES256 (P-256) key in a JWKS file of
    the scratch dir, and one token signed with it, valid for a day."""
    import jwt as pyjwt   # python3-jwt
    from cryptography.hazmat.primitives.asymmetric import ec
    key = ec.generate_private_key(ec.SECP256R1())
    nums = key.public_key().public_numbers()
    b64 = lambda n: base64.urlsafe_b64encode(n.to_bytes(32, "big")).rstrip(b"=").decode()
    jwk = {"kty": "EC", "crv": "P-256", "kid": "bench", "use": "sig", "alg": "ES256",
           "x": b64(nums.x), "y": b64(nums.y)}
    env.jwks_file = Path(env.tmp) / "jwks.json"
    env.jwks_file.write_text(json.dumps({"keys": [jwk]}))
    now = int(time.time())
    env.jwt_token = pyjwt.encode({"iss": "https://idp.bench", "aud": "bench", "sub": "user-42",
                                  "iat": now, "exp": now + 86400}, key, algorithm="ES256",
                                 headers={"kid": "bench"})


def make_htpasswd(env):
    """The policies case's users files, in the scratch dir: bcrypt (cost 10)
    for gatehouse, {SSHA} (see POLICY_NOTES) for nginx; and the
    Authorization field the client sends."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)   # crypt: deprecated in 3.11, gone in 3.13
        import crypt
    d = Path(env.tmp)
    bcrypt = crypt.crypt(BENCH_PASSWORD, crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=1 << 10))
    if not bcrypt or not bcrypt.startswith("$2b$10$"):
        raise SystemExit(f"bench: this libcrypt made no bcrypt hash ({bcrypt!r})")
    env.htpasswd = d / "htpasswd"
    env.htpasswd.write_text(f"{BENCH_USER}:{bcrypt}\n")
    salt = os.urandom(8)
    ssha = base64.b64encode(hashlib.sha1(BENCH_PASSWORD.encode() + salt).digest() + salt).decode()
    env.htpasswd_nginx = d / "htpasswd-nginx"
    env.htpasswd_nginx.write_text(f"{BENCH_USER}:{{SSHA}}{ssha}\n")
    env.auth_field = "Authorization: Basic " + base64.b64encode(
        f"{BENCH_USER}:{BENCH_PASSWORD}".encode()).decode()


def client_tls_context():
    """Like the load generators: no verification (the certificate is compared
    by hand), ALPN http/1.1."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.set_alpn_protocols(["http/1.1"])
    return ctx


def https_get(port, path, timeout=10):
    """-> status, body, the server's certificate (DER), TLS version, cipher, ALPN."""
    c = http.client.HTTPSConnection("127.0.0.1", port, timeout=timeout, context=client_tls_context())
    try:
        c.request("GET", path)
        r = c.getresponse()
        body = r.read()
        tls = c.sock
        return r.status, body, tls.getpeercert(binary_form=True), tls.version(), tls.cipher()[0], \
            tls.selected_alpn_protocol()
    finally:
        c.close()


def tls_params(port):
    """What `openssl s_client` negotiates with the proxy: version, cipher, key exchange group."""
    try:
        out = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-servername",
                              "localhost", "-alpn", "http/1.1", "-brief"], input="", capture_output=True,
                             text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"? ({e})"
    text = out.stdout + out.stderr
    get = lambda k: (re.search(rf"^{k}: (.*)$", text, re.M) or [None, "?"])[1].strip()
    return f"{get('Protocol version')} {get('Ciphersuite')} {get('Server Temp Key')}, signature {get('Signature type')}"


class Proxy:
    """One proxy process (tree) started fresh for one measurement."""

    def __init__(self, name, env, tls=False, grpc=False, cache=False, extra=None, passthrough=False,
                 stream=False):
        self.name, self.env = name, env
        self.dir = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=env.tmp))
        self.port = free_port()
        # grpc: a route to the gRPC backend on a listener that takes h2c with
        # prior knowledge: gatehouse's plain one (it tells HTTP/2 from
        # HTTP/1.1 by the first bytes); for nginx and HAProxy a second plain
        # port, HTTP/2 only (bench/conf/*-grpc.*.in).
        self.grpc_port = None
        if grpc and name in GRPC_PROXIES:
            self.grpc_port = self.port if name == "gatehouse" else free_port()
        # tls: a second listener, HTTPS, beside the plain one (which the checks use).
        self.tls_port = free_port() if tls else None
        v = dict(DIR=self.dir, PORT=self.port, BACKEND_PORT=env.backend_port,
                 CACHE_BACKEND_PORT=getattr(env, "cache_origin_port", env.backend_port),
                 NOFILE=env.nofile, MAXCONN=env.maxconn,
                 HTPASSWD=env.htpasswd, HTPASSWD_NGINX=env.htpasswd_nginx,
                 USER="user root;" if os.geteuid() == 0 else "")
        if tls:
            # ALPN: h2 and http/1.1 like gatehouse's default; HAProxy mode tcp
            # relays to an HTTP/1.1 backend, so http/1.1 only there.
            tv = dict(TLS_PORT=self.tls_port, CERT=env.cert, KEY=env.key, CERT_KEY=env.cert_key,
                      ALPN="http/1.1" if name == "haproxy-tcp" else "h2,http/1.1")
            snippet = {"nginx": "nginx-tls.conf.in", "gatehouse": "gatehouse-tls.yaml.in"}.get(
                name, "haproxy-tls.bind.in")
            v["TLS"] = render(snippet, tv).rstrip("\n")
        else:
            v["TLS"] = ""
        if self.grpc_port:
            snippet = {"nginx": "nginx-grpc.conf.in", "haproxy": "haproxy-grpc.cfg.in",
                       "gatehouse": "gatehouse-grpc.yaml.in"}[name]
            v["GRPC"] = render(snippet, dict(GRPC_PORT=self.grpc_port,
                                             GRPC_BACKEND_PORT=env.grpc_backend_port)).rstrip("\n")
        else:
            v["GRPC"] = ""
        # cache: a route /cache/ to the cachehit case's origin, through the
        # proxy's cache (bench/conf/*-cache*.in; Varnish's VCL always has it).
        v["CACHE"] = v["CACHE_ZONE"] = v["CACHE_ROUTE"] = ""
        if cache:
            cv = dict(DIR=self.dir, CACHE_BACKEND_PORT=v["CACHE_BACKEND_PORT"])
            if name == "nginx":
                v["CACHE_ZONE"] = render("nginx-cache-zone.conf.in", cv).rstrip("\n")
                v["CACHE"] = render("nginx-cache.conf.in", cv).rstrip("\n")
            elif name == "haproxy":
                v["CACHE_ROUTE"] = render("haproxy-cache-route.cfg.in", cv).rstrip("\n")
                v["CACHE"] = render("haproxy-cache.cfg.in", cv).rstrip("\n")
            elif name == "gatehouse":
                v["CACHE"] = render("gatehouse-cache.yaml.in", cv).rstrip("\n")
        # extra: one of issue 15's policy cases, its routes from
        # bench/conf/<proxy>-<extra>.*.in: gatehouse routes (.yaml.in) and
        # top-level sections (-top.yaml.in); nginx server locations
        # (.conf.in), http-level (-http.conf.in) and main-level (-main.conf.in).
        v.update(EXTRA="", EXTRA_TOP="", EXTRA_HTTP="", EXTRA_MAIN="")
        if extra:
            ev = dict(v, JWKS=getattr(env, "jwks_file", ""), REDIS_PORT=getattr(env, "redis_port", 0),
                      MODSEC_CONF=getattr(env, "modsec_conf", ""))
            for key, suffix in (("EXTRA", ""), ("EXTRA_TOP", "-top"), ("EXTRA_HTTP", "-http"), ("EXTRA_MAIN", "-main")):
                ext = "yaml.in" if name == "gatehouse" else "conf.in"
                f = f"{name}-{extra}{suffix}.{ext}"
                if (BENCH / "conf" / f).exists():
                    v[key] = render(f, ev).rstrip("\n")
        # passthrough: a TLS listener (pt_port) that relays by SNI to the TLS
        # backend (bench/conf/<proxy>-passthrough.*.in; main level for nginx's
        # stream block, top level for gatehouse's ssl and streams).
        self.pt_port = None
        if passthrough:
            self.pt_port = free_port()
            pv = dict(PT_PORT=self.pt_port, PT_BACKEND_PORT=env.pt_backend_port, CERT=env.cert, KEY=env.key)
            if name == "nginx":
                v["EXTRA_MAIN"] += "\n" + render("nginx-passthrough.conf.in", pv).rstrip("\n")
            elif name == "gatehouse":
                v["EXTRA_TOP"] += "\n" + render("gatehouse-passthrough.yaml.in", pv).rstrip("\n")
        # stream: a TCP listener relaying to the tcp1g case's sink
        # (bench/conf/gatehouse-stream-top.yaml.in, haproxy-tcp-stream.cfg.in).
        self.stream_port = free_port() if stream else None
        if stream:
            sv = dict(STREAM_PORT=self.stream_port, SINK_PORT=env.sink_port)
            if name == "gatehouse":
                v["EXTRA_TOP"] += "\n" + render("gatehouse-stream-top.yaml.in", sv).rstrip("\n")
            elif name == "haproxy-tcp":
                v["EXTRA"] += render("haproxy-tcp-stream.cfg.in", sv).rstrip("\n")
        if name == "nginx":
            cfg = fill("nginx.conf.in", self.dir / "nginx.conf", v)
            argv = ["nginx", "-p", str(self.dir), "-e", str(self.dir / "nginx-error.log"), "-c", str(cfg)]
        elif name == "haproxy":
            cfg = fill("haproxy-http.cfg.in", self.dir / "haproxy.cfg", v)
            argv = ["haproxy", "-db", "-f", str(cfg)]
        elif name == "haproxy-tcp":
            cfg = fill("haproxy-tcp.cfg.in", self.dir / "haproxy.cfg", v)
            argv = ["haproxy", "-db", "-f", str(cfg)]
        elif name == "gatehouse":
            self.admin_port = v["ADMIN_PORT"] = free_port()
            cfg = fill("gatehouse.yaml.in", self.dir / "gatehouse.yaml", v)
            argv = [str(env.gatehouse), "run", "-c", str(cfg)]
        elif name == "varnish":
            # In the foreground (-F: the manager, which forks the child that
            # serves), no jail (runs as whoever runs the bench), no CLI port,
            # its shared memory and compiled VCL in the scratch directory,
            # 256 MB of memory storage like the others' caches. One thread
            # pool (default 2); its threads (thread_pool_min 100, the
            # default) all run on the proxy's CPU. Client keep-alive 300 s
            # like the others (timeout_idle, default 5 s).
            cfg = fill("varnish.vcl.in", self.dir / "varnish.vcl", v)
            argv = ["varnishd", "-F", "-j", "none", "-T", "none", "-n", str(self.dir / "varnish"),
                    "-a", f"127.0.0.1:{self.port}", "-f", str(cfg), "-s", "malloc,256m",
                    "-p", "thread_pools=1", "-p", "timeout_idle=300"]
        else:
            raise SystemExit(f"unknown proxy {name!r} (known: {' '.join(KNOWN_PROXIES)})")
        self.logfile = self.dir / "proxy.log"
        self.proc = start(argv, self.logfile, env.proxy_cpus, cwd=self.dir)
        # Varnish compiles its VCL with the C compiler before it listens.
        wait_port(self.port, self.proc, self.logfile, timeout=60.0 if name == "varnish" else 15.0)
        time.sleep(0.1)  # nginx: let the worker come up behind the master's socket
        status, body = http_get(self.port, "/small")
        if status != 200 or body != b"hello, world\n":
            raise RuntimeError(f"{name}: GET /small answered {status} {body[:80]!r}")
        if tls:
            wait_port(self.tls_port, self.proc, self.logfile)
            status, body, der, *_ = https_get(self.tls_port, "/small")
            if status != 200 or body != b"hello, world\n":
                raise RuntimeError(f"{name}: GET /small over TLS answered {status} {body[:80]!r}")
            if der != env.cert_der:
                raise RuntimeError(f"{name}: serves another certificate than the run's")
        if self.grpc_port:
            wait_port(self.grpc_port, self.proc, self.logfile)
        if self.pt_port:
            wait_port(self.pt_port, self.proc, self.logfile)
            check_passthrough(env, self)
        self.pids = proc_tree(self.proc.pid)
        record_pids(self.pids[1:])
        self.scraper_stop = threading.Event()
        if name == "gatehouse":
            # A Prometheus-like scraper, harsher than the usual 15 s interval:
            # its cost is gatehouse's to carry, as it would be in production.
            status, body = http_get(self.admin_port, "/metrics")
            if status != 200 or b"gatehouse_http_requests_total" not in body:
                raise RuntimeError(f"gatehouse: GET /metrics answered {status} {body[:80]!r}")
            threading.Thread(target=self._scrape, daemon=True).start()

    def _scrape(self):
        while not self.scraper_stop.wait(1.0):
            try:
                http_get(self.admin_port, "/metrics")
            except Exception:   # a stopping process; the checks catch real faults
                pass

    def refresh_pids(self):
        self.pids = proc_tree(self.proc.pid)
        return self.pids

    def stop(self):
        self.scraper_stop.set()
        stop(self.proc, proc_tree(self.proc.pid) if self.proc.poll() is None else None)


# ---------------------------------------------------------------- loads

def parse_h2load(out):
    m = re.search(r"finished in ([\d.]+)(us|ms|s),", out)
    if not m:
        raise RuntimeError("cannot read h2load output:\n" + out[-1500:])
    elapsed = float(m.group(1)) * {"us": 1e-6, "ms": 1e-3, "s": 1.0}[m.group(2)]
    r = re.search(r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, "
                  r"(\d+) failed, (\d+) errored, (\d+) timeout", out)
    s = re.search(r"status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", out)
    total, _, _, ok, failed, errored, tmo = map(int, r.groups())
    alpn = re.search(r"Application protocol: (\S+)", out)
    data = re.search(r"traffic: .*, \S+ \((\d+)\) data", out)   # response body bytes, as received
    return dict(elapsed=elapsed, total=total, succeeded=ok, ok2xx=int(s.group(1)),
                bad=failed + errored + tmo + (ok - int(s.group(1))), alpn=alpn and alpn.group(1),
                data=int(data.group(1)) if data else None)


def percentiles(logfile):
    """p50/p99 (ms) of h2load's per-request log: start_us, status, duration_us."""
    d = []
    with open(logfile) as f:
        for line in f:
            parts = line.split("\t")
            if len(parts) >= 3:
                d.append(int(parts[2]))
    if not d:
        return None, None
    d.sort()
    pick = lambda p: d[min(len(d) - 1, int(p * len(d)))] / 1000.0
    return pick(0.50), pick(0.99)


def h2load_argv(env, case, port, n, c, logfile=None):
    # h2 and grpc: HTTP/2 (ALPN h2 over TLS, h2c with prior knowledge on
    # http://), m streams at once per connection; otherwise HTTP/1.1.
    h2 = case.get("h2") or case.get("grpc")
    argv = ["h2load"] + ([] if h2 else ["--h1"]) + ["-n", str(n), "-c", str(c)] \
        + (["-m", str(case["m"])] if h2 else []) + ["-t", "1"]
    if case.get("grpc"):
        argv += ["-d", str(env.grpc_body), "-H", "content-type: application/grpc", "-H", "te: trailers"]
    for h in case.get("headers", []):
        argv += ["-H", h]
    if case.get("auth"):
        argv += ["-H", env.auth_field]
    if case.get("bearer"):
        argv += ["-H", f"Authorization: Bearer {env.jwt_token}"]
    if case.get("upload_bytes"):
        argv += ["-d", str(env.upload_file)]
    if logfile:
        argv += [f"--log-file={logfile}"]
    argv.append(f"{'https' if case.get('tls') else 'http'}://127.0.0.1:{port}{case['path']}")
    return pinned(env.load_cpus, argv)


# What h2load must have negotiated with the proxy (its "Application protocol").
def expected_alpn(case):
    if case.get("grpc"):
        return "h2c"
    if case.get("tls"):
        return "h2" if case.get("h2") else "http/1.1"
    return None


def run_h2load(env, proxy, case, n, c):
    px = proxy.dir / "h2load.tsv"
    port = proxy.grpc_port if case.get("grpc") else proxy.tls_port if case.get("tls") else proxy.port
    warm = max(c, min(n // 10, 5000))
    if case.get("auth"):
        check_policies(env, proxy)
    if case.get("guard"):
        check_guard(env, proxy, case)
    if case.get("h2"):
        check_h2(env, proxy)
    if case.get("grpc"):
        check_grpc(env, proxy)
    coded_bytes = check_compress(env, proxy, case["coding"], case["path"]) if case.get("coding") else None
    # cache: the origin's count from here on must not move (every request a hit).
    cache_hit = check_cache(env, proxy, case["path"]) if case.get("cache") else None
    origin0 = origin_requests(env) if case.get("cache") else None
    res = subprocess.run(h2load_argv(env, case, port, warm, c), capture_output=True, text=True, timeout=300)
    w = parse_h2load(res.stdout)
    if case.get("auth") or case.get("cache") or case.get("all_2xx"):   # a 401/403 answered fast would make a fine-looking, meaningless figure
        if w["ok2xx"] != warm:
            raise RuntimeError(f"warm-up: {w['ok2xx']} of {warm} requests answered 2xx")
    if expected_alpn(case) and w["alpn"] != expected_alpn(case):
        raise RuntimeError(f"warm-up: h2load negotiated {w['alpn'] or 'no protocol'}, not {expected_alpn(case)}")
    # grpc: h2load cannot see grpc-status, so the backend counts the calls it served.
    calls0 = grpc_calls(env) if case.get("grpc") else None
    pids = proxy.refresh_pids()
    sampler = RssSampler(pids)
    sampler.start()
    meter = CpuMeter(pids)
    try:
        res = subprocess.run(h2load_argv(env, case, port, n, c, px), capture_output=True,
                             text=True, timeout=600)
    finally:
        meter.finish()
        rss_max = sampler.stop()
    h = parse_h2load(res.stdout)
    if expected_alpn(case) and h["alpn"] != expected_alpn(case):
        raise RuntimeError(f"h2load negotiated {h['alpn'] or 'no protocol'}, not {expected_alpn(case)}")
    errors = h["bad"] + (n - h["succeeded"])
    backend_calls = None
    if case.get("grpc"):   # a call the proxy failed itself never reached the backend
        backend_calls = grpc_calls(env) - calls0
        errors = max(errors, n - backend_calls)
    if (case.get("auth") or case.get("all_2xx")) and h["ok2xx"] != n:
        raise RuntimeError(f"{h['ok2xx']} of {n} requests answered 2xx (status codes: "
                           + (re.search(r"status codes: .*", res.stdout) or [""])[0] + ")")
    origin_load = None
    if case.get("cache"):   # a miss anywhere in the warm-up or the load fails the measurement
        origin_load = origin_requests(env) - origin0
        if origin_load:
            raise RuntimeError(f"the origin got {origin_load} requests during the warm-up and measured load "
                               f"({warm} + {n}): {proxy.name} served misses; this is not a cache-hit figure")
        if h["ok2xx"] != n:
            raise RuntimeError(f"{h['ok2xx']} of {n} requests answered 2xx (status codes: "
                               + (re.search(r"status codes: .*", res.stdout) or [""])[0] + ")")
        if h["data"] != n * len(env.cache_body):
            raise RuntimeError(f"h2load received {h['data']} body bytes for {n} responses, not "
                               f"{len(env.cache_body)} each")
    load_bytes = None
    if case.get("coding"):   # every measured response coded like the checked one
        load_bytes = h["data"] / max(h["succeeded"], 1) if h["data"] is not None else None
        if load_bytes is None or abs(load_bytes - coded_bytes) > 0.01 * coded_bytes:
            raise RuntimeError(f"h2load received {load_bytes} body bytes per response, against "
                               f"{coded_bytes} coded bytes in the check: not every response was coded alike")
    cpu_us, cpu = meter.per(h["succeeded"])
    hwm = hwm_bytes(pids)
    p50, p99 = percentiles(px)
    px.unlink(missing_ok=True)
    body = case.get("resp_bytes") or case.get("upload_bytes") or 0
    return dict(rps=h["succeeded"] / h["elapsed"], cpu_us=cpu_us, **cpu,
                p50=p50, p99=p99, hwm=hwm, rss_max=rss_max,
                mibps=(h["succeeded"] * body / h["elapsed"] / (1 << 20)) if body else None,
                errors=errors, count=h["succeeded"], alpn=h["alpn"], backend_calls=backend_calls,
                coded_bytes=coded_bytes, load_bytes=load_bytes, cache_hit=cache_hit, origin_load=origin_load)


def measured_client(proxy, argv, warmup_argv, name):
    """Runs a bench client (bench/clients/*.py) once to warm up, then again
    measured. Returns (the JSON of its last output line, the CpuMeter, the
    largest RSS seen, VmHWM)."""
    subprocess.run(warmup_argv, capture_output=True, timeout=300)
    pids = proxy.refresh_pids()
    sampler = RssSampler(pids)
    sampler.start()
    meter = CpuMeter(pids)
    try:
        res = subprocess.run(argv, capture_output=True, text=True, timeout=600)
    finally:
        meter.finish()
        rss_max = sampler.stop()
    hwm = hwm_bytes(pids)
    try:
        r = json.loads(res.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        raise RuntimeError(f"{name} client failed: {res.stderr[-1500:]}")
    return r, meter, rss_max, hwm


def run_ws(env, proxy, case, n, c):
    per = max(1, n // c)
    argv = lambda k: pinned(env.load_cpus, [PY, str(BENCH / "clients" / "ws.py"), "127.0.0.1",
                                            str(proxy.port), case["path"], str(c), str(k)])
    r, meter, rss_max, hwm = measured_client(proxy, argv(per), argv(max(1, per // 10)), "ws")
    cpu_us, cpu = meter.per(r["messages"])
    return dict(rps=r["messages"] / r["elapsed_s"], cpu_us=cpu_us, **cpu,
                p50=r["p50_us"] / 1000, p99=r["p99_us"] / 1000, hwm=hwm, rss_max=rss_max,
                mibps=None, errors=r["errors"] + (per * c - r["messages"]), count=r["messages"])


def run_idle(env, proxy, case, n, c):
    # The proxy holds one fd per client connection (two in mode tcp, where
    # each idle client also holds a backend connection): stay inside the fd
    # limit, and say how many were really held.
    per_conn = 2 if proxy.name == "haproxy-tcp" else 1
    n = min(n, (env.nofile - 200) // per_conn)
    time.sleep(0.5)
    pids = proxy.refresh_pids()
    before = rss_bytes(pids)
    meter = CpuMeter(pids)
    argv = [PY, str(BENCH / "clients" / "idle.py"), "127.0.0.1",
            str(proxy.tls_port if case.get("tls") else proxy.port), str(n), str(c)]
    if case.get("tls"):
        argv.append("--tls")
    argv += ["--then", case.get("then", "get")]
    cli = subprocess.Popen(pinned(env.load_cpus, argv),
                           stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    children.append(cli)
    record_pids([cli.pid])
    try:
        opened = json.loads(cli.stdout.readline())
        meter.finish()
        time.sleep(1.0)  # let the proxy settle (freed buffers, deferred work)
        with_conns = rss_bytes(pids)
        hwm = hwm_bytes(pids)
        cli.stdin.write("check\n")
        cli.stdin.flush()
        alive = json.loads(cli.stdout.readline())["alive"]
        cli.stdin.write("close\n")
        cli.stdin.flush()
        cli.wait(60)
    finally:
        if cli.poll() is None:
            cli.kill()
        children.remove(cli)
    held = max(opened["open"], 1)
    return dict(conns=opened["open"], alive=alive, before=before, with_conns=with_conns,
                per_conn=(with_conns - before) / held, hwm=hwm,
                cpu_us=meter.per(held)[0], connect_s=opened["elapsed_s"],
                errors=opened["failed"] + (opened["open"] - alive), count=opened["open"])


def run_tls(env, proxy, case, n, c):
    """New TLS connections, one request each: bench/clients/tls.py (to the
    passthrough listener in the passthrough case)."""
    port = proxy.pt_port if case.get("passthrough") else proxy.tls_port
    argv = lambda k: pinned(env.load_cpus, [PY, str(BENCH / "clients" / "tls.py"), "127.0.0.1",
                                            str(port), case["path"], str(k), str(c), case["mode"]])
    r, meter, rss_max, hwm = measured_client(proxy, argv(n), argv(max(c, n // 10)), "tls")
    cpu_us, cpu = meter.per(r["conns"])
    # A resumed handshake in `full` mode would make the figure a lie: count it as an error.
    wrong = r["reused"] if case["mode"] == "full" else 0
    return dict(rps=r["conns"] / r["elapsed_s"], cpu_us=cpu_us, **cpu,
                p50=r["p50_us"] / 1000, p99=r["p99_us"] / 1000, hwm=hwm, rss_max=rss_max,
                mibps=None, resumed=r["reused"], versions=r["versions"], ciphers=r["ciphers"],
                errors=max(r["errors"], n - r["conns"]) + wrong, count=r["conns"])


def check_passthrough(env, proxy):
    """One request with SNI `localhost` (what bench/clients/tls.py sends) on the
    passthrough listener must come from the TLS backend (its mark) with the
    run's certificate: the proxy relayed, it did not terminate."""
    ctx = client_tls_context()
    with socket.create_connection(("127.0.0.1", proxy.pt_port), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname="localhost") as s:
            s.sendall(b"GET /small HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            got = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                got += chunk
            der = s.getpeercert(binary_form=True)
    head, _, body = got.partition(b"\r\n\r\n")
    if b"x-bench-backend: tls-origin" not in head.lower() or body != b"hello, world\n" or der != env.cert_der:
        raise RuntimeError(f"{proxy.name}: passthrough answered {got[:200]!r} (not from the TLS backend)")


def start_tls_origin(env):
    """The passthrough case's TLS backend: an nginx of its own on the backend's
    CPUs (bench/conf/nginx-tls-origin.conf.in)."""
    env.pt_backend_port = free_port()
    d = Path(tempfile.mkdtemp(prefix="tls-origin-", dir=env.tmp))
    cfg = fill("nginx-tls-origin.conf.in", d / "nginx.conf",
               dict(DIR=d, PT_BACKEND_PORT=env.pt_backend_port, CERT=env.cert, KEY=env.key, NOFILE=env.nofile,
                    MAXCONN=env.maxconn, USER="user root;" if os.geteuid() == 0 else ""))
    logf = d / "tls-origin.log"
    p = start(["nginx", "-p", str(d), "-e", str(d / "nginx-error.log"), "-c", str(cfg)], logf, env.backend_cpus)
    wait_port(env.pt_backend_port, p, logf)
    record_pids(proc_tree(p.pid)[1:])
    log(f"bench: TLS backend for passthrough (nginx) on 127.0.0.1:{env.pt_backend_port}")
    return p


def run_slow(env, proxy, case, n, c):
    """n slow readers of a long coded response at once (bench/clients/slowread.py):
    the proxy's RSS while it compresses them all."""
    check_compress(env, proxy, case["coding"], case["check_path"])
    secs = case["qsecs"] if QUICK else case["secs"]
    time.sleep(0.5)
    pids = proxy.refresh_pids()
    before = rss_bytes(pids)
    meter = CpuMeter(pids)
    argv = [PY, str(BENCH / "clients" / "slowread.py"), "127.0.0.1", str(proxy.port), case["path"],
            str(n), str(case["rate"]), case["coding"], str(c)]
    cli = subprocess.Popen(pinned(env.load_cpus, argv), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True)
    children.append(cli)
    record_pids([cli.pid])
    sampler = None
    try:
        line = cli.stdout.readline()
        if not line:
            raise RuntimeError(f"slowread client failed: {cli.stderr.read()[-1500:]}")
        started = json.loads(line)
        sampler = RssSampler(pids)
        sampler.start()
        time.sleep(1.0)
        rss_1s = rss_bytes(pids)
        time.sleep(max(0.0, secs - 1.0))
        rss_end = rss_bytes(pids)
        rss_max = sampler.stop()
        sampler = None
        hwm = hwm_bytes(pids)
        cli.stdin.write("stop\n")
        cli.stdin.flush()
        line = cli.stdout.readline()
        if not line:
            raise RuntimeError(f"slowread client failed: {cli.stderr.read()[-1500:]}")
        done = json.loads(line)
        cli.wait(30)
        time.sleep(0.2)   # the proxy sees the resets
        meter.finish()
    finally:
        if sampler:
            sampler.stop()
        if cli.poll() is None:
            cli.kill()
        children.remove(cli)
    streams = started["streaming"]
    per_stream = (rss_max - before) / max(streams, 1)
    cpu_s = meter.per(1)[1]["cpu_s"]
    errors = (n - streams) + (streams - started["coded"]) + done["ended"] + done["failed"]
    return dict(streams=streams, coded=started["coded"], before=before, rss_1s=rss_1s, rss_end=rss_end,
                rss_max=rss_max, hwm=hwm, per_stream=per_stream, read_bytes=done["read_bytes"],
                cpu_s=cpu_s, connect_s=started["elapsed_s"], errors=errors, count=streams)


def run_tcp(env, proxy, case, n, c):
    """n MiB through the proxy's stream listener on c connections
    (bench/clients/tcp.py); CPU per GiB relayed."""
    argv = lambda mib: pinned(env.load_cpus, [PY, str(BENCH / "clients" / "tcp.py"), "127.0.0.1",
                                              str(proxy.stream_port), str(mib), str(c)])
    r, meter, rss_max, hwm = measured_client(proxy, argv(n), argv(max(c, n // 8)), "tcp")
    gib = r["bytes"] / (1 << 30)
    cpu_us, cpu = meter.per(1)
    cpu_s_per_gib = cpu["cpu_s"] / gib if gib else None
    return dict(rps=r["bytes"] / MIB / r["elapsed_s"], cpu_us=cpu_s_per_gib, **cpu, p50=None, p99=0.0,
                hwm=hwm, rss_max=rss_max, mibps=r["bytes"] / MIB / r["elapsed_s"],
                errors=r["errors"], count=r["bytes"])


RUNNERS = {"tcp": run_tcp, "h2load": run_h2load, "ws": run_ws, "idle": run_idle, "tls": run_tls, "slow": run_slow}


# ---------------------------------------------------------------- report

def med(rounds, key):
    vals = [r[key] for r in rounds if r.get(key) is not None]
    return statistics.median(vals) if vals else None


def fmt(v, digits=1):
    if v is None:
        return "–"
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    return f"{v:.{digits}f}"


def ratio(v, base):
    return f"{v / base:.2f}x" if v is not None and base else "–"


def spread(rounds, key, digits=1):
    vals = [r[key] for r in rounds if r.get(key) is not None]
    if len(vals) < 2:
        return ""
    return f" ({fmt(min(vals), digits)}–{fmt(max(vals), digits)})"


MIB = 1 << 20


def case_table(name, case, n, c, results, all_results=None):
    """results: proxy -> list of per-round dicts (or an error string)."""
    lines = []
    compared = vs_own(name, case, results, all_results or {})
    if case["kind"] == "h2load" and case.get("grpc"):
        load = (f"`h2load -n {n} -c {c} -m {case['m']} -t 1 -d <5-byte gRPC prefix + {len(GRPC_PAYLOAD)}-byte message> "
                f"-H 'content-type: application/grpc' -H 'te: trailers'` on `http://127.0.0.1:<h2c port>{case['path']}` "
                "(h2c with prior knowledge; gatehouse: its plain port, nginx and HAProxy: a second, HTTP/2-only "
                "plain port); backend: `bench/backends/grpc_echo.py` (grpcio, generic handler, 16 threads); "
                "errors also count calls that did not reach the backend")
    elif case["kind"] == "h2load" and case.get("h2"):
        load = (f"`h2load -n {n} -c {c} -m {case['m']} -t 1` on `https://127.0.0.1:<tls port>{case['path']}` "
                "(ALPN h2, checked with `curl --http2` before each measurement)")
    elif case["kind"] == "h2load":
        load = f"`h2load --h1 -n {n} -c {c} -t 1`" + "".join(f" `-H '{h}'`" for h in case.get("headers", [])) \
            + (" `-H 'Authorization: Basic <bench:password>'`" if case.get("auth") else "") \
            + (" `-H 'Authorization: Bearer <ES256 JWT>'`" if case.get("bearer") else "") \
            + (f" `-d <{case['upload_bytes'] >> 20} MiB file>`" if case.get("upload_bytes") else "") \
            + (f" on `https://127.0.0.1:<tls port>{case['path']}`" if case.get("tls") else f" on `{case['path']}`")
    elif case["kind"] == "tls" and case.get("passthrough"):
        load = (f"`bench/clients/tls.py ... {n} {c} {case['mode']}` on the proxy's passthrough listener: {n} "
                f"connections, {c} at a time, each with SNI `localhost` relayed to the TLS backend, a full "
                f"handshake there, one `GET {case['path']}` with `Connection: close`, close")
    elif case["kind"] == "tls":
        load = (f"`bench/clients/tls.py ... {n} {c} {case['mode']}`: {n} connections, {c} at a time, each "
                + ("a full handshake" if case["mode"] == "full" else "offering the last ticket received")
                + f", one `GET {case['path']}` with `Connection: close`, close; "
                "\"resumed\" counts the handshakes the proxy resumed")
    elif case["kind"] == "tcp":
        load = (f"`bench/clients/tcp.py 127.0.0.1 <stream port> {n} {c}`: {n} MiB sent on {c} connection(s) "
                "through the proxy to `bench/backends/tcp_sink.py`, which reads them to EOF and answers "
                "the count (checked); gatehouse: a `streams` entry with `listen` (splice(2)), HAProxy: "
                "a `mode tcp` listen section; the proxy's CPU (utime+stime) per GiB relayed")
    elif case["kind"] == "ws":
        load = f"`bench/clients/ws.py`: {c} connections × {max(1, n // c)} round trips on `{case['path']}`"
    elif case["kind"] == "slow":
        secs = case["qsecs"] if QUICK else case["secs"]
        load = (f"`bench/clients/slowread.py ... {case['path']} {n} {case['rate']} {case['coding']}`: {n} "
                f"connections, each `GET {case['path']}` with `Accept-Encoding: {case['coding']}`, MSS 1460 and a "
                f"16 KiB SO_RCVBUF, reading {case['rate'] >> 10} KiB/s (bytes on the wire); RSS sampled every 50 ms "
                f"for {secs} s once every stream has its head and body bytes, then the connections are reset")
    else:
        then = {"get": "one `GET /small` each", "nothing": "nothing sent",
                "half": "half a `GET /small` request head each"}[case.get("then", "get")]
        load = (f"`bench/clients/idle.py{' --tls' if case.get('tls') else ''} --then {case.get('then', 'get')}`: "
                f"{n} connections{', a TLS handshake on each' if case.get('tls') else ''}, {then}, then idle")
    lines.append(f"### {name}: {case['title']}\n")
    lines.append(f"Load: {load}.\n")
    base = results.get("nginx")
    base = base if isinstance(base, list) and base else None
    if case["kind"] == "slow":
        lines.append("| proxy | streams | coded | all streaming after s | RSS before MiB | RSS at 1 s MiB | "
                     "RSS at end MiB | RSS max MiB | KiB per stream | per stream vs nginx | VmHWM MiB | "
                     "MiB read (coded) | CPU s | errors |")
        lines.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        bps = med(base, "per_stream") if base else None
        for px, rs in results.items():
            if isinstance(rs, str):
                lines.append(f"| {px} | failed: {rs} |" + " |" * 12)
                continue
            ps = med(rs, "per_stream")
            lines.append(f"| {px} | {fmt(med(rs, 'streams'), 0)} | {fmt(med(rs, 'coded'), 0)} | "
                         f"{fmt(med(rs, 'connect_s'), 1)} | "
                         f"{fmt(med(rs, 'before') / MIB)} | {fmt(med(rs, 'rss_1s') / MIB)} | "
                         f"{fmt(med(rs, 'rss_end') / MIB)} | {fmt(med(rs, 'rss_max') / MIB)} | "
                         f"{fmt(ps / 1024, 0)} | {ratio(ps, bps)} | {fmt(med(rs, 'hwm') / MIB)} | "
                         f"{fmt(med(rs, 'read_bytes') / MIB)} | {fmt(med(rs, 'cpu_s'), 2)} | "
                         f"{sum(r['errors'] for r in rs)} |")
    elif case["kind"] == "tcp":
        lines.append("| proxy | MiB/s | CPU s per GiB (min–max) | CPU/GiB vs haproxy-tcp | VmHWM MiB | RSS max MiB | errors |")
        lines.append("|---|---:|---:|---:|---:|---:|---:|")
        tb = results.get("haproxy-tcp")
        bcpu = med(tb, "cpu_us") if isinstance(tb, list) and tb else None
        for px, rs in results.items():
            if isinstance(rs, str):
                lines.append(f"| {px} | failed: {rs} |" + " |" * 5)
                continue
            cpu = med(rs, "cpu_us")
            lines.append(f"| {px} | {fmt(med(rs, 'mibps'), 0)} | {fmt(cpu, 3)}{spread(rs, 'cpu_us', 3)} | "
                         f"{ratio(cpu, bcpu)} | {fmt(med(rs, 'hwm') / MIB)} | {fmt(med(rs, 'rss_max') / MIB)} | "
                         f"{sum(r['errors'] for r in rs)} |")
    elif case["kind"] == "idle":
        lines.append("| proxy | conns held | RSS before MiB | RSS with conns MiB | KiB per conn | per conn vs nginx | VmHWM MiB | alive after 1 s |")
        lines.append("|---|---:|---:|---:|---:|---:|---:|---:|")
        bpc = med(base, "per_conn") if base else None
        for px, rs in results.items():
            if isinstance(rs, str):
                lines.append(f"| {px} | failed: {rs} |" + " |" * 6)
                continue
            pc = med(rs, "per_conn")
            lines.append(f"| {px} | {fmt(med(rs, 'conns'), 0)} | {fmt(med(rs, 'before') / MIB)} | "
                         f"{fmt(med(rs, 'with_conns') / MIB)} | {fmt(pc / 1024, 2)} | {ratio(pc, bpc)} | "
                         f"{fmt(med(rs, 'hwm') / MIB)} | {fmt(med(rs, 'alive'), 0)} |")
    else:
        unit = "call" if case.get("grpc") else {"ws": "msg", "tls": "handshake"}.get(case["kind"], "req")
        thr = case.get("resp_bytes") or case.get("upload_bytes")
        rate = "handshakes/s" if case["kind"] == "tls" else f"{unit}/s"
        head = f"| proxy | {rate} | {rate} vs nginx | CPU µs/{unit} (min–max) | CPU/{unit} vs nginx | p50 ms | p99 ms |"
        sep = "|---|---:|---:|---:|---:|---:|---:|"
        if thr:
            head += " MiB/s |"
            sep += "---:|"
        if case["kind"] == "tls":
            head += " resumed (all rounds) |"
            sep += "---:|"
        if case.get("coding"):
            head += " coded bytes | ratio | bytes under load |"
            sep += "---:|---:|---:|"
        head += " VmHWM MiB | RSS max MiB | errors |"
        sep += "---:|---:|---:|"
        lines += [head, sep]
        brps, bcpu = (med(base, "rps"), med(base, "cpu_us")) if base else (None, None)
        for px, rs in results.items():
            if isinstance(rs, str):
                lines.append(f"| {px} | failed: {rs} |" + " |" * (head.count("|") - 3))
                continue
            rps, cpu = med(rs, "rps"), med(rs, "cpu_us")
            row = (f"| {px} | {fmt(rps, 0)} | {ratio(rps, brps)} | {fmt(cpu, 2 if cpu and cpu < 100 else 1)}"
                   f"{spread(rs, 'cpu_us')} | {ratio(cpu, bcpu)} | {fmt(med(rs, 'p50'), 2)} | {fmt(med(rs, 'p99'), 2)} |")
            if thr:
                row += f" {fmt(med(rs, 'mibps'), 0)} |"
            if case["kind"] == "tls":
                row += f" {sum(r['resumed'] for r in rs)} of {sum(r['count'] for r in rs)} |"
            if case.get("coding"):
                cb = med(rs, "coded_bytes")
                row += (f" {cb:,.0f} | {case['resp_bytes'] / cb:.2f} |" if cb else " – | – |") \
                    + f" {fmt(med(rs, 'load_bytes'), 0)} |"
            row += f" {fmt(med(rs, 'hwm') / MIB)} | {fmt(med(rs, 'rss_max') / MIB)} | {sum(r['errors'] for r in rs)} |"
            lines.append(row)
    if expected_alpn(case):
        seen = "; ".join(f"{px} {', '.join(sorted({str(r.get('alpn')) for r in rs}))}"
                         for px, rs in results.items() if isinstance(rs, list) and rs)
        if seen:
            lines.append("")
            lines.append(f"Protocol h2load negotiated (its \"Application protocol\", every round; "
                         f"anything but {expected_alpn(case)} fails the measurement): {seen}.")
    if compared:
        lines.append("")
        lines.append(compared)
    if name == "policies":
        lines.append("")
        lines.append(POLICY_NOTES.rstrip("\n"))
    if case.get("extra"):
        lines.append("")
        lines.append(POLICY2_NOTES.rstrip("\n"))
    if case.get("cache"):
        lines += cache_lines(results)
    if case.get("coding") and case["kind"] == "h2load":
        lines.append("")
        lines.append(COMPRESS_NOTES.rstrip("\n"))
    if case["kind"] == "slow":
        lines.append("")
        lines.append(SLOW_NOTES.rstrip("\n"))
    if case.get("passthrough"):
        lines.append("")
        lines.append(PASSTHROUGH_NOTES.rstrip("\n"))
    if case["kind"] == "tcp":
        lines.append("")
        lines.append(TCP_NOTES.rstrip("\n"))
    return "\n".join(lines) + "\n"


def cache_lines(results):
    """Under the cachehit table: gatehouse against the better of nginx and
    Varnish, what each proxy's hits looked like, and CACHE_NOTES."""
    out = []
    ok = {px: rs for px, rs in results.items() if isinstance(rs, list) and rs}
    rivals = [(med(ok[px], "cpu_us"), px) for px in ("nginx", "varnish") if px in ok]
    if "gatehouse" in ok and rivals:
        best, who = min(rivals)
        gh = med(ok["gatehouse"], "cpu_us")
        out += ["", f"gatehouse against the better of nginx and Varnish ({who}, {fmt(best, 2)} µs/req): "
                    f"{fmt(gh, 2)} µs/req, {gh / best:.2f}x the CPU per request (medians; lower is better)."]
    if ok:
        out += ["", "Second GET of each check (must be a hit): " + "; ".join(
            f"{px}: {rs[0].get('cache_hit')}" for px, rs in ok.items())
            + ". Origin requests during the warm-ups and measured loads, all rounds: "
            + ", ".join(f"{px} {sum(r.get('origin_load') or 0 for r in rs)}" for px, rs in ok.items()) + "."]
    out += ["", CACHE_NOTES.rstrip("\n")]
    return out


def vs_own(name, case, results, all_results):
    """'gatehouse: x µs/req here against y µs/req in `small` of this run, +z %',
    for every proxy measured in both (case["compare"] names the other case)."""
    other = case.get("compare")
    if not other or other not in all_results:
        return ""
    parts = []
    for px, rs in results.items():
        os_ = all_results[other].get(px)
        if isinstance(rs, str) or isinstance(os_, str) or not rs or not os_:
            continue
        a, b = med(rs, "cpu_us"), med(os_, "cpu_us")
        parts.append(f"{px} {fmt(a, 2)} against {fmt(b, 2)} µs ({(a / b - 1) * 100:+.1f} %)")
    if not parts:
        return ""
    return f"CPU per request against the same proxy's `{other}` in this run (medians): " + "; ".join(parts) + "."


def tool_version(argv, pattern=None):
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=10)
        text = (out.stdout + out.stderr).strip()
    except OSError:
        return "not found"
    if pattern:
        m = re.search(pattern, text)
        return m.group(0) if m else text.splitlines()[0] if text else "?"
    return text.splitlines()[0] if text else "?"


def machine_info(env):
    model = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    git = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                         capture_output=True, text=True).stdout.strip() or "?"
    dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"],
                           capture_output=True, text=True).stdout.strip()
    return [
        f"- machine: `nproc` = {os.cpu_count()}, {model}, Linux {platform.release()}",
        f"- versions: {tool_version(['nginx', '-v'], r'nginx/[^ ]+')}, "
        f"{tool_version(['haproxy', '-v'], r'HAProxy version [^ ]+')}, "
        f"{tool_version(['varnishd', '-V'], r'varnish-[^ ]+')}, "
        f"{tool_version([str(env.gatehouse), 'version'])} (git {git}{', uncommitted changes' if dirty else ''}"
        f"{binary_origin(env)}), "
        f"{tool_version(['h2load', '--version'])}, Python {platform.python_version()}, "
        f"libssl in use: nginx {tool_version(['nginx', '-V'], r'(?<=running with )OpenSSL [^ )]+|(?<=built with )OpenSSL [^ ]+')}, "
        f"HAProxy {tool_version(['haproxy', '-vv'], r'(?<=Running on OpenSSL version : )OpenSSL [^ ]+')}, "
        f"gatehouse {tool_version([str(env.gatehouse), 'version'], r'OpenSSL [^ ]+')}, "
        f"client {tool_version(['openssl', 'version'], r'OpenSSL [^ ]+')}",
        f"- pinning: {env.pinning}",
        f"- load average at start: {env.load_start}, at end: {' '.join(open('/proc/loadavg').read().split()[:3])}"
        + noisy(env),
    ]


def binary_origin(env):
    """When gatehouse comes from outside this tree (BENCH_BUILD elsewhere),
    the git state above is not the binary's: say where it came from."""
    try:
        env.gatehouse.resolve().relative_to(ROOT)
        return ""
    except ValueError:
        pass
    digest = hashlib.sha256(env.gatehouse.read_bytes()).hexdigest()[:12]
    mtime = datetime.datetime.fromtimestamp(env.gatehouse.stat().st_mtime, datetime.timezone.utc)
    return (f"; but the binary is {env.gatehouse}, built outside this tree: sha256 {digest}…, "
            f"modified {mtime:%Y-%m-%d %H:%M} UTC")


def noisy(env):
    """A warning when other jobs kept the machine busy during the run."""
    loads = [float(env.load_start.split()[0]), float(open("/proc/loadavg").read().split()[0])]
    n = os.cpu_count() or 1
    if max(loads) > n:
        if getattr(env, "varnish_ran", False) and loads[0] <= n:
            # Varnish serves each busy connection on its own thread: during
            # its loads about 32 of them are runnable on the proxy's CPU,
            # which alone lifts the load average far above the CPU count.
            return (f" (above its {n} CPUs at the end, but not at the start: Varnish ran, and its busy "
                    "threads, one per client connection, count in the load average themselves; "
                    "the load average cannot tell other jobs from them)")
        return (f" (**busy machine**: load above its {n} CPUs; other jobs shared the cores, "
                "so absolute figures are noisy; compare ratios within this run)")
    return ""


# ---------------------------------------------------------------- main

class Env:
    pass


def uses_tls(case):
    """The case needs the proxy's terminating HTTPS listener (passthrough has its own)."""
    return bool(case.get("tls")) or (case["kind"] == "tls" and not case.get("passthrough"))


def case_proxies(case):
    return case.get("proxies", DEFAULT_CASE_PROXIES)


def setup_env(env):
    env.gatehouse = BUILD / "gatehouse"
    env.origin = BUILD / "demo-origin"
    for b in (env.gatehouse, env.origin):
        if not b.exists():
            raise SystemExit(f"bench: {b} is missing (bench/run.sh builds it)")
    import resource
    env.nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    env.maxconn = max(1024, env.nofile - 100)
    ncpu = len(os.sched_getaffinity(0))
    cpus = sorted(os.sched_getaffinity(0))
    if os.environ.get("BENCH_PIN", "1") == "0" or ncpu < 2:
        env.proxy_cpus = env.backend_cpus = env.load_cpus = None
        env.pinning = "none" + (" (one CPU)" if ncpu < 2 else " (BENCH_PIN=0)")
    else:
        env.proxy_cpus = os.environ.get("BENCH_PROXY_CPUS", str(cpus[0]))
        rest = ",".join(str(c) for c in cpus[1:])
        if ncpu >= 4:
            env.backend_cpus = os.environ.get("BENCH_BACKEND_CPUS", str(cpus[1]))
            env.load_cpus = os.environ.get("BENCH_LOAD_CPUS", ",".join(str(c) for c in cpus[2:]))
        else:
            env.backend_cpus = os.environ.get("BENCH_BACKEND_CPUS", rest)
            env.load_cpus = os.environ.get("BENCH_LOAD_CPUS", rest)
        env.pinning = (f"proxy on CPU {env.proxy_cpus}; backend (demo-origin --threads 1) on CPU "
                       f"{env.backend_cpus}; load generator on CPU {env.load_cpus} (taskset -c)")
    env.load_start = " ".join(open("/proc/loadavg").read().split()[:3])
    env.tmp = scratch["dir"] = tempfile.mkdtemp(prefix="run-", dir=os.environ.get("BENCH_TMPDIR"))
    make_htpasswd(env)   # every gatehouse and nginx config names these files


def main(argv):
    names = argv or list(CASES)
    for nm in names:
        if nm not in CASES:
            raise SystemExit(f"bench: unknown case {nm!r}; cases: {' '.join(CASES)}")
    for px in PROXIES:
        if px not in KNOWN_PROXIES:
            raise SystemExit(f"bench: unknown proxy {px!r} in BENCH_PROXIES (known: {' '.join(KNOWN_PROXIES)})")
    env = Env()
    setup_env(env)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    sizes = {}
    for nm in names:
        case = CASES[nm]
        key = nm.upper().replace("-", "_")   # BENCH_IDLE10K_TLS_N
        n = int(os.environ.get(f"BENCH_{key}_N", case["qn"] if QUICK else case["n"]))
        c = int(os.environ.get(f"BENCH_{key}_C", case["qc"] if QUICK else case["c"]))
        sizes[nm] = (n, c)

    any_tls = any(uses_tls(CASES[nm]) for nm in names)
    any_passthrough = any(CASES[nm].get("passthrough") for nm in names)
    if any_tls or any_passthrough:
        make_cert(env)
    tls_origin = start_tls_origin(env) if any_passthrough else None
    any_grpc = any(CASES[nm].get("grpc") for nm in names)
    if any_grpc:
        # The gRPC backend, beside demo-origin on the backend's CPUs, and
        # h2load's request body: one gRPC message (uncompressed flag, length).
        env.grpc_backend_port = free_port()
        grpc_log = Path(env.tmp) / "grpc-backend.log"
        grpc_backend = start([PY, str(BENCH / "backends" / "grpc_echo.py"), "serve", str(env.grpc_backend_port)],
                             grpc_log, env.backend_cpus)
        wait_port(env.grpc_backend_port, grpc_backend, grpc_log)
        env.grpc_body = Path(env.tmp) / "grpc-request.bin"
        env.grpc_body.write_bytes(b"\0" + len(GRPC_PAYLOAD).to_bytes(4, "big") + GRPC_PAYLOAD)
        log(f"bench: gRPC backend grpc_echo.py on 127.0.0.1:{env.grpc_backend_port}")
    if any(CASES[nm].get("upload_bytes") for nm in names):
        env.upload_file = Path(env.tmp) / "upload.bin"
        env.upload_file.write_bytes(os.urandom(max(CASES[nm].get("upload_bytes", 0) for nm in names)))

    sink = None
    if any(CASES[nm]["kind"] == "tcp" for nm in names):
        # The tcp1g case's sink, on the backend's CPUs.
        env.sink_port = free_port()
        sink_log = Path(env.tmp) / "tcp-sink.log"
        sink = start([PY, str(BENCH / "backends" / "tcp_sink.py"), "serve", str(env.sink_port)],
                     sink_log, env.backend_cpus)
        wait_port(env.sink_port, sink, sink_log)
        log(f"bench: TCP sink tcp_sink.py on 127.0.0.1:{env.sink_port}")
    redis = None
    if any(CASES[nm].get("redis") for nm in names):
        # ratelimit-redis: a redis-server of its own, no persistence, on the backend's CPUs.
        env.redis_port = free_port()
        redis_log = Path(env.tmp) / "redis.log"
        redis = start(["redis-server", "--port", str(env.redis_port), "--bind", "127.0.0.1", "--save", "",
                       "--appendonly", "no", "--dir", env.tmp], redis_log, env.backend_cpus)
        wait_port(env.redis_port, redis, redis_log)
        log(f"bench: redis-server on 127.0.0.1:{env.redis_port}")
    if any(CASES[nm].get("bearer") for nm in names):
        make_jwt(env)
    if any(CASES[nm].get("extra") == "waf" for nm in names):
        env.modsec_conf = fill("modsecurity-bench.conf.in", Path(env.tmp) / "modsecurity-bench.conf", {})

    env.backend_port = free_port()
    origin_log = Path(env.tmp) / "origin.log"
    origin = start([str(env.origin), "--port", str(env.backend_port), "--name", "bench", "--threads", "1"],
                   origin_log, env.backend_cpus)
    wait_port(env.backend_port, origin, origin_log)
    log(f"bench: backend demo-origin on 127.0.0.1:{env.backend_port}; pinning: {env.pinning}")
    any_cache = any(CASES[nm].get("cache") for nm in names)
    cache_origin = None
    if any_cache:
        # The cachehit case's origin: demo-origin's text with Cache-Control
        # (see CACHE_NOTES), beside demo-origin on the backend's CPUs.
        env.cache_body = backend_body(env, f"/text/{CACHE_OBJECT_BYTES}")
        body_file = Path(env.tmp) / "cache-object.html"
        body_file.write_bytes(env.cache_body)
        env.cache_origin_port = free_port()
        co_log = Path(env.tmp) / "cache-origin.log"
        cache_origin = start([PY, str(BENCH / "bench.py"), "--cache-origin", str(env.cache_origin_port),
                              str(body_file)], co_log, env.backend_cpus)
        wait_port(env.cache_origin_port, cache_origin, co_log)
        log(f"bench: cache origin (bench.py --cache-origin) on 127.0.0.1:{env.cache_origin_port}")
    log(f"bench: cases {' '.join(names)}; proxies {' '.join(PROXIES)}; {ROUNDS} round(s)"
        + ("; BENCH_QUICK" if QUICK else ""))

    # The headers each proxy sends upstream, shown once as evidence that all do the same work.
    # With TLS cases: what each proxy negotiates, and what it forwards over TLS.
    seen, tls_seen, tls_fwd, grpc_seen = {}, {}, {}, {}
    # Only the proxies some chosen case takes (Varnish: cachehit only), each
    # with the listeners of the chosen cases it takes part in.
    takes = lambda px, pred: any(pred(CASES[nm]) and px in case_proxies(CASES[nm]) for nm in names)
    for px in PROXIES:
        if not takes(px, lambda c: True):
            continue
        p = None
        px_tls = takes(px, uses_tls)
        try:
            p = Proxy(px, env, tls=px_tls, grpc=any_grpc)
            st, body = http_get(p.port, "/headers")
            seen[px] = ", ".join(json.loads(body)["headers"].keys()) if st == 200 else f"status {st}"
            if px_tls:
                tls_seen[px] = tls_params(p.tls_port)
                st, body, _, ver, ciph, alpn = https_get(p.tls_port, "/headers")
                h = json.loads(body)["headers"] if st == 200 else {}
                tls_fwd[px] = (f"X-Forwarded-Proto {h.get('x-forwarded-proto', '(none)')}, "
                               f"X-Forwarded-Port {'TLS port' if h.get('x-forwarded-port') == str(p.tls_port) else h.get('x-forwarded-port', '(none)')}"
                               if st == 200 else f"status {st}")
            if p.grpc_port:
                try:
                    grpc_seen[px] = ", ".join(f"{k}: {v}" if k in ("via", "x-forwarded-proto") else k
                                              for k, v in check_grpc(env, p).items())
                except Exception as e:  # reported again, per round, by the measurements
                    grpc_seen[px] = f"? ({' '.join(str(e).split())[:120]})"
        except Exception as e:  # reported again, per case, by the measurements
            seen[px] = f"? ({' '.join(str(e).split())[:120] or type(e).__name__})"
            log(f"bench: {px}: {e}")
        finally:
            if p:
                p.stop()

    results = {nm: {px: [] for px in PROXIES if px in case_proxies(CASES[nm])} for nm in names}
    env.varnish_ran = any("varnish" in per for per in results.values())
    t_start = time.monotonic()
    for rnd in range(1, ROUNDS + 1):
        for nm in names:
            case = CASES[nm]
            n, c = sizes[nm]
            for px in results[nm]:
                if isinstance(results[nm][px], str):
                    continue
                t0 = time.monotonic()
                p = None
                try:
                    p = Proxy(px, env, tls=uses_tls(case), grpc=bool(case.get("grpc")), cache=bool(case.get("cache")),
                              extra=case.get("extra"), passthrough=bool(case.get("passthrough")),
                              stream=case["kind"] == "tcp")
                    r = RUNNERS[case["kind"]](env, p, case, n, c)
                    results[nm][px].append(r)
                    if case["kind"] == "slow":
                        log(f"  round {rnd} {nm:9} {px:11} {r['streams']} streams ({r['coded']} coded)  "
                            f"RSS {r['before'] / MIB:.1f} -> max {r['rss_max'] / MIB:.1f} MiB  "
                            f"{r['per_stream'] / 1024:7.1f} KiB/stream  errors {r['errors']}  "
                            f"({time.monotonic() - t0:.1f}s)")
                    elif case["kind"] == "tcp":
                        log(f"  round {rnd} {nm:9} {px:11} {r['mibps']:8.0f} MiB/s  "
                            f"{r['cpu_us']:.3f} CPU s/GiB  errors {r['errors']}  ({time.monotonic() - t0:.1f}s)")
                    elif case["kind"] == "idle":
                        log(f"  round {rnd} {nm:9} {px:11} {r['conns']} conns  "
                            f"{r['per_conn'] / 1024:7.2f} KiB/conn  alive {r['alive']}  "
                            f"({time.monotonic() - t0:.1f}s)")
                    else:
                        log(f"  round {rnd} {nm:9} {px:11} {r['rps']:10.0f}/s  {r['cpu_us']:8.2f} µs CPU  "
                            f"p99 {r['p99']:.2f} ms  errors {r['errors']}  ({time.monotonic() - t0:.1f}s)")
                except Exception as e:  # one proxy failing a case must not stop the others
                    msg = " ".join(str(e).split())[:200].replace("|", "/") or type(e).__name__
                    log(f"  round {rnd} {nm:9} {px:11} FAILED: {e}")
                    results[nm][px] = msg
                finally:
                    if p:
                        p.stop()
    elapsed = time.monotonic() - t_start
    stop(origin)
    if any_grpc:
        stop(grpc_backend)
    if cache_origin:
        stop(cache_origin)
    if redis:
        stop(redis)
    if tls_origin:
        stop(tls_origin, proc_tree(tls_origin.pid) if tls_origin.poll() is None else None)
    if sink:
        stop(sink)
    if any(isinstance(rs, str) for per in results.values() for rs in per.values()):
        log(f"bench: some measurements failed; configs and logs kept in {env.tmp}")
        scratch["keep"] = True
        if os.environ.get("BENCH_TMPDIR"):
            Path(os.environ["BENCH_TMPDIR"], "keep").touch()

    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H%M%SZ")
    cmd = os.environ.get("BENCH_CMD") or "bench/run.sh " + " ".join(shlex.quote(a) for a in argv)
    envs = " ".join(f"{k}={shlex.quote(v)}" for k, v in sorted(os.environ.items())
                    if k.startswith("BENCH_") and k not in ("BENCH_CMD", "BENCH_PIDFILE", "BENCH_TMPDIR", "BENCH_BUILD_DEFAULT"))
    out = [f"## {stamp}{' (quick)' if QUICK else ''}\n",
           f"- command: `{(envs + ' ') if envs else ''}{cmd.strip()}`",
           f"- rounds: {ROUNDS}, interleaved ({' '.join(PROXIES)}, repeated), median quoted; "
           f"CPU = utime+stime of all the proxy's processes over the measured load "
           f"(unrounded, from schedstat, checked against /proc/<pid>/stat); "
           f"measurement took {elapsed:.0f} s"]
    out += machine_info(env)
    out.append("- headers each proxy sent to the backend: " +
               "; ".join(f"{px}: {h}" for px, h in seen.items()))
    if any_tls:
        out.append(f"- TLS: one self-signed {env.cert_desc} certificate and key, made for this run "
                   "(`openssl req -x509`), served by every proxy (checked); each proxy's HTTPS listener "
                   "is a second port beside its plain one, configured like gatehouse's defaults "
                   "(bench/conf/*-tls.*.in); HAProxy mode tcp terminates TLS and relays the decrypted bytes")
        out.append("- negotiated (`openssl s_client -alpn http/1.1`): " +
                   "; ".join(f"{px}: {t}" for px, t in tls_seen.items()))
        out.append("- forwarded over TLS (`/headers`): " +
                   "; ".join(f"{px}: {t}" for px, t in tls_fwd.items()))
    if any_grpc:
        out.append("- metadata the gRPC backend got through each proxy (`/bench.Echo/Headers`, a real gRPC call "
                   "from grpcio's client): " + "; ".join(f"{px}: {h}" for px, h in grpc_seen.items()))
    out.append("")
    for nm in names:
        n, c = sizes[nm]
        out.append(case_table(nm, CASES[nm], n, c, results[nm], results))
    report = "\n".join(out)
    print(report)

    outdir = BENCH / "out"
    outdir.mkdir(exist_ok=True)
    raw = {nm: {px: rs for px, rs in results[nm].items()} for nm in names}
    (outdir / f"{stamp}.md").write_text(
        report + "\n<details><summary>every round</summary>\n\n```json\n"
        + json.dumps(raw, indent=1, default=str) + "\n```\n</details>\n")
    log(f"bench: written bench/out/{stamp}.md")
    if not QUICK and os.environ.get("BENCH_NO_RESULTS", "") in ("", "0"):
        update_results(report)
        log("bench: bench/RESULTS.md updated")


RESULTS_HEAD = """# Benchmark results

Produced by `bench/run.sh` (how and what: docs/benchmarks.md). Newest first;
older runs are kept below for the trend. Quick smoke runs (`BENCH_QUICK=1`)
are not recorded here, only in bench/out/.

<!-- new results go below this line -->
"""


def update_results(report):
    path = BENCH / "RESULTS.md"
    marker = "<!-- new results go below this line -->\n"
    text = path.read_text() if path.exists() else RESULTS_HEAD
    if marker not in text:
        text = RESULTS_HEAD + "\n" + text
    head, _, rest = text.partition(marker)
    path.write_text(head + marker + "\n" + report.rstrip() + "\n\n" + rest.lstrip("\n"))


if __name__ == "__main__":
    if sys.argv[1:2] == ["--cache-origin"]:
        serve_cache_origin(int(sys.argv[2]), sys.argv[3])
        sys.exit(0)
    try:
        main(sys.argv[1:])
    except KeyboardInterrupt:
        log("bench: interrupted")
        sys.exit(130)
    finally:
        cleanup()
