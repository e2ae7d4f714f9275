"""gRPC end to end through gatehouse (CONTRACT.md "HTTP/2 and gRPC"): a
python3-grpcio server behind a route with `upstream_protocol: http2`, a
grpcio client speaking h2c to gatehouse. Unary, server streaming, client
streaming and bidirectional calls, metadata and trailers both ways, the
server's own error status, and gatehouse's own failures as grpc-status."""

import contextlib
import threading
from concurrent import futures

import pytest

grpc = pytest.importorskip("grpc")

import helpers  # noqa: E402
from helpers import route  # noqa: E402

SERVICE = "test.Echo"


def _handlers():
    def unary(request, context):
        md = dict(context.invocation_metadata())
        context.set_trailing_metadata((("x-trailer", "t-" + md.get("x-client", "none")),))
        if request == b"fail":
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "asked to fail")
        return b"echo:" + request + b" via:" + md.get("via", "").encode()

    def server_stream(request, context):
        for i in range(int(request)):
            yield b"part-%d" % i

    def client_stream(request_iterator, context):
        total = b""
        n = 0
        for r in request_iterator:
            total += r
            n += 1
        return b"%d:%s" % (n, total)

    def bidi(request_iterator, context):
        for r in request_iterator:
            yield b"re:" + r

    ident = lambda b: b  # noqa: E731 - raw bytes in and out, no protobuf
    return grpc.method_handlers_generic_handler(SERVICE, {
        "Unary": grpc.unary_unary_rpc_method_handler(unary, ident, ident),
        "ServerStream": grpc.unary_stream_rpc_method_handler(server_stream, ident, ident),
        "ClientStream": grpc.stream_unary_rpc_method_handler(client_stream, ident, ident),
        "Bidi": grpc.stream_stream_rpc_method_handler(bidi, ident, ident),
    })


@pytest.fixture
def grpc_backend():
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    server.add_generic_rpc_handlers((_handlers(),))
    port = server.add_insecure_port(f"{helpers.HOST}:0")
    server.start()
    yield port
    server.stop(grace=None).wait(5)


def _front(gatehouse, port):
    cfg = {"server": {"reverse_proxy": [route(port, "/", upstream_protocol="http2")]}}
    return gatehouse(cfg)


def _channel(gh):
    return grpc.insecure_channel(f"{helpers.HOST}:{gh.port}")


def _stub(ch, kind, name):
    ident = lambda b: b  # noqa: E731
    return getattr(ch, kind)(f"/{SERVICE}/{name}", request_serializer=ident,
                             response_deserializer=ident)


@pytest.mark.deadline(30)
def test_unary_with_metadata_and_trailers(gatehouse, grpc_backend):
    gh = _front(gatehouse, grpc_backend)
    with _channel(gh) as ch:
        call = _stub(ch, "unary_unary", "Unary")
        resp, info = call.with_call(b"hi", metadata=(("x-client", "c1"),), timeout=10)
        assert resp.startswith(b"echo:hi via:")
        assert b"gatehouse" in resp   # Via reached the backend
        assert ("x-trailer", "t-c1") in tuple(info.trailing_metadata())
        assert info.code() == grpc.StatusCode.OK
    gh.stop()
    recs = [r for r in gh.access_log() if r.get("path") == f"/{SERVICE}/Unary"]
    assert recs and recs[0]["protocol"] == "HTTP/2.0" and int(recs[0]["status"]) == 200


@pytest.mark.deadline(30)
def test_server_error_status_is_carried(gatehouse, grpc_backend):
    gh = _front(gatehouse, grpc_backend)
    with _channel(gh) as ch:
        with pytest.raises(grpc.RpcError) as e:
            _stub(ch, "unary_unary", "Unary")(b"fail", timeout=10)
        assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert e.value.details() == "asked to fail"


@pytest.mark.deadline(30)
def test_server_streaming(gatehouse, grpc_backend):
    gh = _front(gatehouse, grpc_backend)
    with _channel(gh) as ch:
        parts = list(_stub(ch, "unary_stream", "ServerStream")(b"50", timeout=10))
    assert parts == [b"part-%d" % i for i in range(50)]


@pytest.mark.deadline(30)
def test_client_streaming(gatehouse, grpc_backend):
    gh = _front(gatehouse, grpc_backend)
    with _channel(gh) as ch:
        resp = _stub(ch, "stream_unary", "ClientStream")(iter([b"a", b"bb", b"ccc"] * 100), timeout=10)
    assert resp == b"300:" + b"abbccc" * 100


@pytest.mark.deadline(30)
def test_bidirectional_streaming_interleaves(gatehouse, grpc_backend):
    """Each reply arrives before the next request is sent: nothing waits for
    the request stream's end."""
    gh = _front(gatehouse, grpc_backend)
    with _channel(gh) as ch:
        call = _stub(ch, "stream_stream", "Bidi")
        outbox = []
        got = []
        cond = threading.Condition()

        def requests():
            for i in range(20):
                msg = b"m%d" % i
                yield msg
                with cond:
                    if not cond.wait_for(lambda: len(got) > i, timeout=5):
                        return

        for reply in call(requests(), timeout=20):
            with cond:
                got.append(reply)
                cond.notify_all()
        outbox = [b"re:m%d" % i for i in range(20)]
    assert got == outbox


@pytest.mark.deadline(30)
def test_large_messages_both_ways(gatehouse, grpc_backend):
    gh = _front(gatehouse, grpc_backend)
    big = bytes(range(256)) * 6144   # 1.5 MiB (gRPC's default message limit is 4 MiB)
    with _channel(gh) as ch:
        resp = _stub(ch, "stream_unary", "ClientStream")(iter([big, big]), timeout=20)
    assert resp == b"2:" + big + big


@pytest.mark.deadline(30)
def test_backend_down_is_unavailable_with_proxy_status(gatehouse):
    port = helpers.free_port()   # nothing listens there
    gh = _front(gatehouse, port)
    with _channel(gh) as ch:
        with pytest.raises(grpc.RpcError) as e:
            _stub(ch, "unary_unary", "Unary").with_call(b"x", timeout=10)
    err = e.value
    assert err.code() == grpc.StatusCode.UNAVAILABLE
    md = dict(err.trailing_metadata() or ()) | dict(err.initial_metadata() or ())
    assert "proxy-status" in md and "connection_refused" in md["proxy-status"], md


@pytest.mark.deadline(30)
def test_no_route_is_unimplemented(gatehouse, grpc_backend):
    cfg = {"server": {"reverse_proxy": [route(grpc_backend, "/other", upstream_protocol="http2")]}}
    gh = gatehouse(cfg)
    with _channel(gh) as ch:
        with pytest.raises(grpc.RpcError) as e:
            _stub(ch, "unary_unary", "Unary")(b"x", timeout=10)
    assert e.value.code() == grpc.StatusCode.UNIMPLEMENTED


@pytest.mark.deadline(30)
def test_many_calls_share_one_backend_connection(gatehouse, grpc_backend):
    gh = _front(gatehouse, grpc_backend)
    with _channel(gh) as ch:
        call = _stub(ch, "unary_unary", "Unary")
        futs = [call.future(b"n%d" % i, timeout=10) for i in range(200)]
        results = [f.result() for f in futs]
    assert all(r.startswith(b"echo:n") for r in results)


@pytest.fixture(scope="module")
def grpc_pki(tmp_path_factory):
    trustme = pytest.importorskip("trustme")
    import tls_helpers as th
    from types import SimpleNamespace
    d = tmp_path_factory.mktemp("grpc-pki")
    ca = trustme.CA()
    return SimpleNamespace(
        ca=th.write_ca(ca, d / "ca.pem"),
        front=th.write_leaf(ca, d, "front", ["front.test", "127.0.0.1"], "front-cert"),
        backend=th.write_leaf(ca, d, "backend", ["backend.test"], "backend-cert"))


@contextlib.contextmanager
def _tls_grpc_server(pki):
    """A grpcio server that speaks only TLS (the backend certificate of `pki`); yields its port."""
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    server.add_generic_rpc_handlers((_handlers(),))
    creds = grpc.ssl_server_credentials([(pki.backend.key.read_bytes(), pki.backend.cert.read_bytes())])
    port = server.add_secure_port(f"{helpers.HOST}:0", creds)
    server.start()
    try:
        yield port
    finally:
        server.stop(grace=None).wait(5)


@pytest.mark.deadline(40)
def test_tls_both_ways(gatehouse, grpc_pki):
    """gRPC over TLS end to end: the client negotiates h2 by ALPN with
    gatehouse, gatehouse h2 by ALPN with a grpcio server that only speaks TLS,
    verifying its certificate against ca_file under the configured SNI."""
    with _tls_grpc_server(grpc_pki) as port:
        r = route(port, "/", upstream_protocol="http2", ssl=True)
        r["tls"] = {"ca_file": str(grpc_pki.ca), "sni": "backend.test"}
        gh = gatehouse({"server": {"reverse_proxy": [r]},
                        "ssl": {"enabled": True, "port": helpers.free_port(),
                                "cert_file": str(grpc_pki.front.cert),
                                "key_file": str(grpc_pki.front.key)}})
        ch_creds = grpc.ssl_channel_credentials(root_certificates=open(grpc_pki.ca, "rb").read())
        with grpc.secure_channel(f"{helpers.HOST}:{gh.tls_port}", ch_creds,
                                 options=(("grpc.ssl_target_name_override", "front.test"),)) as ch:
            resp, info = _stub(ch, "unary_unary", "Unary").with_call(
                b"tls", metadata=(("x-client", "c9"),), timeout=10)
            assert resp.startswith(b"echo:tls via:") and b"gatehouse" in resp
            assert ("x-trailer", "t-c9") in tuple(info.trailing_metadata())
            got = list(_stub(ch, "stream_stream", "Bidi")(iter([b"a", b"b", b"c"]), timeout=10))
            assert got == [b"re:a", b"re:b", b"re:c"]
        gh.stop()
        recs = [x for x in gh.access_log() if x.get("path") == f"/{SERVICE}/Unary"]
        assert recs and recs[0]["protocol"] == "HTTP/2.0" and int(recs[0]["status"]) == 200


@pytest.mark.deadline(40)
def test_tls_backend_with_a_certificate_for_another_name_is_unavailable(gatehouse, grpc_pki):
    with _tls_grpc_server(grpc_pki) as port:
        r = route(port, "/", upstream_protocol="http2", ssl=True)
        r["tls"] = {"ca_file": str(grpc_pki.ca), "sni": "elsewhere.test"}
        gh = gatehouse({"server": {"reverse_proxy": [r]}})
        with _channel(gh) as ch:
            with pytest.raises(grpc.RpcError) as e:
                _stub(ch, "unary_unary", "Unary").with_call(b"x", timeout=10)
        assert e.value.code() == grpc.StatusCode.UNAVAILABLE
        md = dict(e.value.trailing_metadata() or ()) | dict(e.value.initial_metadata() or ())
        assert "tls_certificate_error" in md.get("proxy-status", ""), md
