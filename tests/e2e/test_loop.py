"""A route that points back at gatehouse itself must not loop forever."""
import helpers


def test_route_to_itself_gets_508_loop_detected(gatehouse):
    port = helpers.free_port()
    gh = gatehouse({"server": {"port": port, "reverse_proxy": [helpers.route(port, "/")]}})
    r = helpers.http_request(gh.port, "GET", "/x")
    assert r.status == 508
    ps = r.header("proxy-status") or ""
    assert "error=proxy_loop_detected" in ps, ps


def test_a_few_gatehouse_hops_are_fine(gatehouse, origin):
    o = origin()
    gh = gatehouse({"server": {"reverse_proxy": [helpers.route(o, "/")]}})
    r = helpers.http_request(gh.port, "GET", "/x",
                             headers={"Via": "1.1 gatehouse, 1.1 gatehouse, 1.1 gatehouse"})
    assert r.status == 200
