#!/usr/bin/python3
"""gRPC backend (and check client) for bench/run.sh's `grpc` case.

Debian's python3-grpcio only, no protoc step: the service is a generic
handler (grpc.method_handlers_generic_handler) whose methods take and return
raw bytes (no (de)serializers), so no generated code and no protobuf.
Served by grpcio's thread-pool server, 16 workers, on cleartext HTTP/2 (h2c
with prior knowledge, as gRPC speaks it without TLS): on one core it answers
these unary calls faster than grpc.aio (about 8,500 against 5,500 calls/s
under `h2load -c 8 -m 10` on the 2-core bench machine; more workers do not
help, fewer lose a little).

  /bench.Echo/Echo     returns the request message unchanged (the load)
  /bench.Echo/Headers  returns the call's metadata as JSON: what a proxy forwarded
  /bench.Echo/Count    returns {"calls": number of Echo calls served so far}

usage: grpc_echo.py serve PORT
       grpc_echo.py check PORT [PAYLOAD_HEX]   one real gRPC call of each method
                                              through PORT; prints one JSON line
       grpc_echo.py count PORT                 prints {"calls": N}
"""
import json
import sys
import threading
from concurrent import futures

import grpc

SERVICE = "bench.Echo"
DEFAULT_PAYLOAD = bytes(range(32))


def serve(port, workers=16):
    calls, lock = [0], threading.Lock()

    def echo(request, context):
        with lock:
            calls[0] += 1
        return request

    def headers(request, context):
        return json.dumps({k: v for k, v in context.invocation_metadata()
                           if not k.endswith("-bin")}).encode()

    def count(request, context):
        with lock:
            return json.dumps({"calls": calls[0]}).encode()

    handler = grpc.method_handlers_generic_handler(SERVICE, {
        "Echo": grpc.unary_unary_rpc_method_handler(echo),
        "Headers": grpc.unary_unary_rpc_method_handler(headers),
        "Count": grpc.unary_unary_rpc_method_handler(count),
    })
    # A proxy with one HTTP/2 connection (gatehouse, HAProxy) runs all its
    # concurrent calls on it: no stream limit below the load's.
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=workers),
                         options=[("grpc.max_concurrent_streams", 1000), ("grpc.so_reuseport", 0)])
    server.add_generic_rpc_handlers((handler,))
    if server.add_insecure_port(f"127.0.0.1:{port}") != port:
        raise SystemExit(f"grpc_echo: cannot listen on 127.0.0.1:{port}")
    server.start()
    print(f"grpc_echo: serving {SERVICE} on 127.0.0.1:{port} ({workers} worker threads)", flush=True)
    server.wait_for_termination()


def call(channel, method, payload, timeout=10):
    """-> (status code name, details, response bytes or None)."""
    stub = channel.unary_unary(f"/{SERVICE}/{method}")
    try:
        resp, c = stub.with_call(payload, timeout=timeout)
        return c.code().name, c.details(), resp
    except grpc.RpcError as e:
        return e.code().name, e.details(), None


def check(port, payload):
    with grpc.insecure_channel(f"127.0.0.1:{port}") as ch:
        code, details, resp = call(ch, "Echo", payload)
        out = dict(echo_status=code, echo_details=details, echoed=resp == payload,
                   echo_len=None if resp is None else len(resp))
        code, details, resp = call(ch, "Headers", b"")
        out["headers_status"] = code
        out["headers"] = json.loads(resp) if resp is not None else None
    print(json.dumps(out))


def count(port):
    with grpc.insecure_channel(f"127.0.0.1:{port}") as ch:
        code, details, resp = call(ch, "Count", b"")
        if code != "OK":
            raise SystemExit(f"grpc_echo: Count answered {code} {details}")
        print(resp.decode())


if __name__ == "__main__":
    cmd, port = sys.argv[1], int(sys.argv[2])
    if cmd == "serve":
        serve(port)
    elif cmd == "check":
        check(port, bytes.fromhex(sys.argv[3]) if len(sys.argv) > 3 else DEFAULT_PAYLOAD)
    elif cmd == "count":
        count(port)
    else:
        raise SystemExit(__doc__)
