"""Smuggling and desync: hostile request framing against a capture backend.

Every case in CASES (a table built below: 150 hostile cases + 4 controls;
`test_case_count` prints the numbers with -s, the test ids list them) is
sent on its own client connection to one gatehouse in front of one capture
backend that records the exact bytes it receives. For each case the proxy must
EITHER refuse it (a 4xx of its own, with Proxy-Status, then close the
connection, without having sent the backend anything for it; 501/505 also
count where RFC 9112 names them for unknown codings or versions), OR send the
backend exactly the well-framed request(s) the case's legitimate reading gives:
read back with a strict parser (one Host, CRLF only, token names, CL-only or
chunked-only framing), with the expected body, and as many backend requests
as the client got backend responses. Bytes that would become a request under a
wrong reading of the framing always target /smuggled: the backend must never
see that path as a request. Cases with `bodies=None` are ones the contract's
"strict in" rule (or an RFC 9112 MUST) says have to be refused; cases with
`then_refused` carry a bad request after an acceptable one on the same
keep-alive connection, which must get its own 4xx before the close.
"""

import time
from dataclasses import dataclass, field

import pytest

import helpers
import hostile
from helpers import route

SMUG = b"GET /smuggled HTTP/1.1\r\nHost: example.test\r\n\r\n"
JUNK = b"BAD" + b"x" * (len(SMUG) - 7) + b"\r\n\r\n"  # as long as SMUG, an invalid request line
PIPELINED = b"GET /pipelined HTTP/1.1\r\nHost: example.test\r\n\r\n"
REFUSE = None  # body value meaning "must be refused"


@dataclass
class Case:
    name: str
    raw: bytes
    bodies: tuple = None          # acceptable backend bodies when accepted; None: must refuse
    requests: int = 1             # backend requests when accepted
    paths: tuple = ()             # expected targets when accepted (default: the case path)
    host: str = None              # expected Host at the backend when accepted
    forbid: tuple = ()            # header names the backend must not receive
    must_accept: bool = False     # a control: plain valid HTTP the proxy has to pass
    note: str = ""
    refusal_statuses: tuple = field(default=())
    then_refused: bool = False    # when accepted, the bytes after it are a bad request: 4xx + close


def path_of(name):
    return f"/c/{name}"


def head(name, lines, method="POST", version="HTTP/1.1", host=b"Host: example.test",
         target=None):
    """Raw request head: request line, Host (unless None), raw header lines."""
    target = target if target is not None else path_of(name).encode()
    out = [method.encode() + b" " + target + b" " + version.encode()]
    if host is not None:
        out.append(host)
    out += [line if isinstance(line, bytes) else line.encode("latin-1") for line in lines]
    return b"\r\n".join(out) + b"\r\n\r\n"


def chunked(data, size=None, ext=b"", sep=b"\r\n", tail=b"0\r\n\r\n"):
    size = size if size is not None else f"{len(data):x}".encode()
    return size + ext + sep + data + b"\r\n" + tail


CHUNKED_SMUG = chunked(SMUG)
CL_SMUG = f"Content-Length: {len(SMUG)}"
LEN = len(SMUG)


def build_cases():
    cases = []

    def add(name, raw, bodies=REFUSE, **kw):
        if bodies is not None and not isinstance(bodies, tuple):
            bodies = (bodies,)
        cases.append(Case(name, raw, bodies, **kw))

    # ---- controls: plain valid requests the proxy must pass cleanly
    add("ok_content_length", head("ok_content_length", [CL_SMUG]) + SMUG, SMUG, must_accept=True)
    add("ok_chunked", head("ok_chunked", ["Transfer-Encoding: chunked"]) + CHUNKED_SMUG, SMUG,
        must_accept=True)
    add("ok_get", head("ok_get", [], method="GET"), b"", must_accept=True)
    add("ok_nul_in_body", head("ok_nul_in_body", ["Content-Length: 5"]) + b"a\x00b\x00c",
        b"a\x00b\x00c", must_accept=True)

    # ---- Transfer-Encoding obfuscations (body: SMUG chunked)
    te_ok = {  # values whose only legitimate reading is "chunked"
        "te_two_spaces": b"Transfer-Encoding:  chunked",
        "te_no_space": b"Transfer-Encoding:chunked",
        "te_trailing_space": b"Transfer-Encoding: chunked ",
        "te_tab_before": b"Transfer-Encoding:\tchunked",
        "te_tab_after": b"Transfer-Encoding: chunked\t",
        "te_upper_value": b"Transfer-Encoding: CHUNKED",
        "te_mixed_case_value": b"Transfer-Encoding: cHuNkEd",
        "te_upper_name": b"TRANSFER-ENCODING: chunked",
        "te_lower_name": b"transfer-encoding: chunked",
        "te_empty_element_first": b"Transfer-Encoding: , chunked",
        "te_empty_element_last": b"Transfer-Encoding: chunked,",
        "te_gzip_chunked": b"Transfer-Encoding: gzip, chunked",
        "te_identity_chunked": b"Transfer-Encoding: identity, chunked",
        "te_chunked_semicolon_param": b"Transfer-Encoding: chunked;foo",
        "te_chunked_param_value": b"Transfer-Encoding: chunked; q=1",
    }
    for name, line in te_ok.items():
        add(name, head(name, [line]) + CHUNKED_SMUG, SMUG,
            refusal_statuses=(501,) if b"gzip" in line or b"identity" in line else ())
    add("te_x_then_chunked_fields",
        head("te_x_then_chunked_fields", ["Transfer-Encoding: x-custom", "Transfer-Encoding: chunked"])
        + CHUNKED_SMUG, SMUG, refusal_statuses=(501,))
    te_refuse = {  # no reading gives a reliable length: RFC 9112 6.3 says 400
        "te_vtab_before": b"Transfer-Encoding:\x0bchunked",
        "te_vtab_after": b"Transfer-Encoding: chunked\x0b",
        "te_formfeed_before": b"Transfer-Encoding:\x0cchunked",
        "te_formfeed_after": b"Transfer-Encoding: chunked\x0c",
        "te_nul_after": b"Transfer-Encoding: chunked\x00",
        "te_chunked_chunked_list": b"Transfer-Encoding: chunked, chunked",
        "te_chunked_identity": b"Transfer-Encoding: chunked, identity",
        "te_chunked_gzip": b"Transfer-Encoding: chunked, gzip",
        "te_identity": b"Transfer-Encoding: identity",
        "te_quoted": b'Transfer-Encoding: "chunked"',
        "te_xchunked": b"Transfer-Encoding: xchunked",
        "te_chunked_x": b"Transfer-Encoding: chunkedx",
        "te_empty": b"Transfer-Encoding: ",
        "te_space_before_colon": b"Transfer-Encoding : chunked",
        "te_tab_before_colon": b"Transfer-Encoding\t: chunked",
        "te_space_in_name": b"Transfer Encoding: chunked",
        "te_double_colon": b"Transfer-Encoding:: chunked",
        "te_obs_fold_value": b"Transfer-Encoding:\r\n chunked",
        "te_obs_fold_hidden": b"X-Pad: a\r\n Transfer-Encoding: chunked",
        "te_bare_cr_hidden": b"X-Pad: a\rTransfer-Encoding: chunked",
    }
    for name, line in te_refuse.items():
        add(name, head(name, [line]) + CHUNKED_SMUG, REFUSE, refusal_statuses=(501,),
            note="CTL/invalid value, chunked not final, or a malformed field line")
    add("te_duplicate_fields",
        head("te_duplicate_fields", ["Transfer-Encoding: chunked", "Transfer-Encoding: chunked"])
        + CHUNKED_SMUG, REFUSE, note="chunked applied twice (RFC 9112 7)")
    add("te_chunked_then_x_fields",
        head("te_chunked_then_x_fields", ["Transfer-Encoding: chunked", "Transfer-Encoding: x-custom"])
        + CHUNKED_SMUG, REFUSE, refusal_statuses=(501,))
    add("te_http10", head("te_http10", ["Transfer-Encoding: chunked"], version="HTTP/1.0")
        + CHUNKED_SMUG, REFUSE, note="TE on HTTP/1.0: framing is faulty (RFC 9112 6.1)")
    # Names a parser might take for TE but that are other fields: if accepted,
    # there is no body (the chunk bytes are then a garbage request) and the
    # odd name must not reach a CGI-style backend that would map it to TE.
    add("te_underscore_name", head("te_underscore_name", ["Transfer_Encoding: chunked"])
        + CHUNKED_SMUG, b"", forbid=("transfer_encoding",), then_refused=True)
    add("te_colon_prefixed_name", head("te_colon_prefixed_name", ["X:Transfer-Encoding: chunked"])
        + CHUNKED_SMUG, b"", forbid=("transfer-encoding",), then_refused=True)
    add("te_leading_ws_after_request_line",
        b"POST /c/te_leading_ws_after_request_line HTTP/1.1\r\n Transfer-Encoding: chunked\r\n"
        b"Host: example.test\r\n\r\n" + CHUNKED_SMUG, b"", then_refused=True,
        note="RFC 9112 2.2: reject, or ignore the whitespace-preceded line")

    # ---- Content-Length and Transfer-Encoding together (both orders, variants)
    cl_te_body = b"0\r\n\r\n" + SMUG
    for name, lines in {
        "cl_te": [f"Content-Length: {len(cl_te_body)}", "Transfer-Encoding: chunked"],
        "te_cl": ["Transfer-Encoding: chunked", f"Content-Length: {len(cl_te_body)}"],
        "cl_te_obfuscated": [f"Content-Length: {len(cl_te_body)}", "Transfer-Encoding: xchunked"],
        "cl_te_identity": [f"Content-Length: {len(cl_te_body)}", "Transfer-Encoding: identity"],
        "cl_te_tab": [f"Content-Length: {len(cl_te_body)}", "Transfer-Encoding:\tchunked"],
        "cl_zero_te": ["Content-Length: 0", "Transfer-Encoding: chunked"],
    }.items():
        add(name, head(name, lines) + cl_te_body, REFUSE, refusal_statuses=(501,))
    add("te_cl_short", head("te_cl_short", ["Transfer-Encoding: chunked", "Content-Length: 4"])
        + CHUNKED_SMUG, REFUSE)
    add("cl_te_http10", head("cl_te_http10", [f"Content-Length: {len(cl_te_body)}",
                                              "Transfer-Encoding: chunked"], version="HTTP/1.0")
        + cl_te_body, REFUSE)

    # ---- Content-Length variants (body: SMUG, 47 bytes)
    add("cl_leading_zeros", head("cl_leading_zeros", [f"Content-Length: 00{LEN}"]) + SMUG, SMUG)
    add("cl_tab_before_value", head("cl_tab_before_value", [f"Content-Length:\t{LEN}"]) + SMUG, SMUG)
    add("cl_upper_name", head("cl_upper_name", [f"CONTENT-LENGTH: {LEN}"]) + SMUG, SMUG)
    for name, line in {
        "cl_plus": f"Content-Length: +{LEN}",
        "cl_hex": f"Content-Length: {LEN:#x}",
        "cl_empty": "Content-Length: ",
        "cl_negative": f"Content-Length: -{LEN}",
        "cl_space_inside": f"Content-Length: {str(LEN)[0]} {str(LEN)[1:]}",
        "cl_trailing_junk": f"Content-Length: {LEN}x",
        "cl_decimal_point": f"Content-Length: {LEN}.0",
        "cl_overflow_wraps": f"Content-Length: {2**64 + LEN}",
        "cl_huge": "Content-Length: 99999999999999999999999999",
        "cl_list_agree": f"Content-Length: {LEN}, {LEN}",
        "cl_list_disagree": f"Content-Length: {LEN}, 5",
        "cl_space_before_colon": f"Content-Length : {LEN}",
        "cl_vtab": f"Content-Length:\x0b{LEN}",
        "cl_formfeed": f"Content-Length: {LEN}\x0c",
        "cl_word": "Content-Length: chunked",
        "cl_obs_fold": f"Content-Length:\r\n {LEN}",
    }.items():
        # Where a wrong reading skips the length, SMUG becomes a request: caught.
        add(name, head(name, [line]) + SMUG, REFUSE)
    add("cl_duplicate_agree", head("cl_duplicate_agree", [CL_SMUG, CL_SMUG]) + SMUG, REFUSE,
        note="ARCHITECTURE: duplicate Content-Length is refused")
    add("cl_duplicate_disagree", head("cl_duplicate_disagree", [CL_SMUG, "Content-Length: 5"]) + SMUG,
        REFUSE)
    add("cl_duplicate_case", head("cl_duplicate_case", [CL_SMUG, f"content-length: {LEN}"]) + SMUG,
        REFUSE)
    add("cl_connection_hop_by_hop", head("cl_connection_hop_by_hop",
                                         ["Connection: Content-Length", CL_SMUG]) + SMUG, SMUG,
        note="Content-Length named in Connection must not lose the framing")
    add("te_connection_hop_by_hop", head("te_connection_hop_by_hop",
                                         ["Connection: Transfer-Encoding", "Transfer-Encoding: chunked"])
        + CHUNKED_SMUG, SMUG)

    # ---- chunk sizes (TE: chunked, body SMUG)
    te = ["Transfer-Encoding: chunked"]
    hexlen = f"{LEN:x}".encode()
    for name, body in {
        "chunk_ext": chunked(SMUG, ext=b";ext=1"),
        "chunk_ext_quoted": chunked(SMUG, ext=b';name="v a l"'),
        "chunk_ext_bare": chunked(SMUG, ext=b";foo"),
        "chunk_ext_bws": chunked(SMUG, ext=b" ;foo=bar"),
        "chunk_leading_zeros": chunked(SMUG, size=b"000" + hexlen),
        "chunk_upper_hex": chunked(SMUG, size=hexlen.upper()),
        "chunk_last_ext": chunked(SMUG, tail=b"0;end=1\r\n\r\n"),
        "chunk_trailer": chunked(SMUG, tail=b"0\r\nX-Trailer: t\r\n\r\n"),
        "chunk_trailer_framing": chunked(SMUG, tail=b"0\r\nContent-Length: 5\r\n"
                                                    b"Transfer-Encoding: chunked\r\n\r\n"),
        "chunk_split": b"5\r\n" + SMUG[:5] + b"\r\n" + chunked(SMUG[5:]),
        "chunk_size_lf_only": chunked(SMUG, sep=b"\n"),
    }.items():
        add(name, head(name, te) + body, SMUG)
    for name, body in {
        "chunk_underscore": chunked(SMUG, size=hexlen[:1] + b"_" + hexlen[1:]),
        "chunk_0x_prefix": chunked(SMUG, size=b"0x" + hexlen),
        "chunk_overflow_wraps": chunked(SMUG, size=b"1000000000000000" + hexlen),
        "chunk_negative": chunked(SMUG, size=b"-" + hexlen),
        "chunk_plus": chunked(SMUG, size=b"+" + hexlen),
        "chunk_space_inside": chunked(SMUG, size=hexlen[:1] + b" " + hexlen[1:]),
        "chunk_empty_size": chunked(SMUG, size=b""),
        "chunk_not_hex": chunked(SMUG, size=b"zz"),
        "chunk_missing_crlf_after_data": hexlen + b"\r\n" + SMUG + b"0\r\n\r\n",
        "chunk_short_size": chunked(SMUG, size=b"5"),
        "chunk_bare_cr_after_size": chunked(SMUG, sep=b"\r"),
        "chunk_nul_in_ext": chunked(SMUG, ext=b";a=\x00"),
    }.items():
        add(name, head(name, te) + body, REFUSE)

    # ---- line ends
    add("bare_lf_everywhere",
        f"POST {path_of('bare_lf_everywhere')} HTTP/1.1\nHost: example.test\n{CL_SMUG}\n\n".encode()
        + SMUG, SMUG, note="RFC 9112 2.2 lets a recipient accept LF; then CL frames the body")
    add("bare_lf_hides_cl", head("bare_lf_hides_cl", [f"X-Pad: a\n{CL_SMUG}"]) + SMUG, SMUG)
    add("bare_lf_before_end", head("bare_lf_before_end", [CL_SMUG])[:-2] + b"\n" + SMUG, SMUG)
    add("bare_cr_hides_cl", head("bare_cr_hides_cl", [f"X-Pad: a\r{CL_SMUG}"]) + SMUG, REFUSE)
    add("bare_cr_line_ends",
        f"POST {path_of('bare_cr_line_ends')} HTTP/1.1\rHost: example.test\r{CL_SMUG}\r\r".encode()
        + SMUG, REFUSE)
    add("obs_fold_plain", head("obs_fold_plain", ["X-Pad: a", " b", CL_SMUG]) + SMUG, REFUSE)
    add("obs_fold_tab", head("obs_fold_tab", ["X-Pad: a", "\tb", CL_SMUG]) + SMUG, REFUSE)
    add("obs_fold_hides_cl", head("obs_fold_hides_cl", ["X-Pad: a", f" {CL_SMUG}"]) + SMUG, REFUSE)

    # ---- header names
    add("name_space_before_colon", head("name_space_before_colon", ["X-Pad : a", CL_SMUG]) + SMUG,
        REFUSE, note="RFC 9112 5.1: MUST reject")
    add("name_tab_before_colon", head("name_tab_before_colon", ["X-Pad\t: a", CL_SMUG]) + SMUG, REFUSE)
    add("name_space_inside", head("name_space_inside", ["X Pad: a", CL_SMUG]) + SMUG, REFUSE)
    for name, line in {
        "name_paren": b"X-Pad(1): a",
        "name_at": b"X@Pad: a",
        "name_quote": b'"X-Pad": a',
        "name_empty": b": a",
        "name_utf8": b"X-\xc3\x84: a",
        "name_slash": b"X/Pad: a",
        "name_ctl": b"X-\x01Pad: a",
    }.items():
        # Whatever happens to the odd field, CL frames the body; the strict
        # parser checks every forwarded name is a token.
        add(name, head(name, [line, CL_SMUG]) + SMUG, SMUG)
    # Fields that only look like Content-Length: if accepted there is no body,
    # and JUNK (LEN bytes, an invalid request line) must then be refused as the
    # next request; a proxy that took the length from them would forward JUNK.
    add("cl_underscore_name", head("cl_underscore_name", [f"Content_Length: {LEN}"]) + JUNK, b"",
        forbid=("content_length",), then_refused=True)
    add("name_colon_in_value", head("name_colon_in_value", [f"X-Pad:{CL_SMUG}"]) + JUNK, b"",
        then_refused=True)
    add("name_colon_prefixed_cl", head("name_colon_prefixed_cl", [f"X:{CL_SMUG}"]) + JUNK, b"",
        then_refused=True)

    # ---- NUL bytes
    add("nul_in_value", head("nul_in_value", ["X-Pad: a\x00b", CL_SMUG]) + SMUG, REFUSE)
    add("nul_in_name", head("nul_in_name", ["X-Pa\x00d: a", CL_SMUG]) + SMUG, REFUSE)
    add("nul_in_target", head("nul_in_target", [CL_SMUG], target=b"/c/nul\x00_in_target") + SMUG,
        REFUSE)
    add("nul_in_method", head("nul_in_method", [CL_SMUG], method="PO\x00ST") + SMUG, REFUSE)
    add("nul_in_cl", head("nul_in_cl", [f"Content-Length: {LEN}\x00"]) + SMUG, REFUSE)

    # ---- request lines
    for name, raw in {
        "rl_two_spaces_before_target": f"GET  {path_of('rl_two_spaces_before_target')} HTTP/1.1",
        "rl_two_spaces_before_version": f"GET {path_of('rl_two_spaces_before_version')}  HTTP/1.1",
        "rl_tab_separator": f"GET\t{path_of('rl_tab_separator')} HTTP/1.1",
        "rl_trailing_space": f"GET {path_of('rl_trailing_space')} HTTP/1.1 ",
        "rl_lowercase_version": f"GET {path_of('rl_lowercase_version')} http/1.1",
    }.items():
        add(name, raw.encode() + b"\r\nHost: example.test\r\n\r\n", b"", refusal_statuses=(505,))
    # (The HTTP/2 preface is not a bad HTTP/1 request line any more: it
    # starts h2c with prior knowledge; test_http2.py covers it, and its
    # refusal with server.http2: false.)
    add("rl_http09", b"GET /c/rl_http09\r\n\r\n", REFUSE, refusal_statuses=(505,))

    # ---- Host and absolute-form
    add("abs_form_conflicting_host",
        head("abs_form_conflicting_host", [], method="GET", host=b"Host: b.example",
             target=b"http://a.example/c/abs_form_conflicting_host"),
        b"", host="a.example", paths=("/c/abs_form_conflicting_host",),
        note="RFC 9112 3.2.2: the absolute-form authority wins over Host")
    add("abs_form_https_conflicting_host",
        head("abs_form_https_conflicting_host", [], method="GET", host=b"Host: b.example",
             target=b"https://a.example/c/abs_form_https_conflicting_host"),
        b"", host="a.example", paths=("/c/abs_form_https_conflicting_host",))
    add("abs_form_userinfo",
        head("abs_form_userinfo", [], method="GET", host=b"Host: b.example",
             target=b"http://user@a.example/c/abs_form_userinfo"),
        b"", host="a.example", paths=("/c/abs_form_userinfo",))
    add("host_duplicate", head("host_duplicate", ["Host: other.example"], method="GET"), REFUSE,
        note="RFC 9112 3.2: MUST 400")
    add("host_missing", head("host_missing", [], method="GET", host=None), REFUSE)
    add("host_with_space", head("host_with_space", [], method="GET", host=b"Host: a b.example"),
        REFUSE)

    # ---- HTTP/1.0 keep-alive with bodies
    add("http10_keepalive_body",
        head("http10_keepalive_body", ["Connection: keep-alive", CL_SMUG], version="HTTP/1.0")
        + SMUG, SMUG)
    add("http10_keepalive_two_bodies",
        head("http10_keepalive_two_bodies", ["Connection: keep-alive", CL_SMUG], version="HTTP/1.0")
        + SMUG
        + head("http10_keepalive_two_bodies_2", ["Connection: keep-alive", "Content-Length: 5"],
               version="HTTP/1.0") + b"hello",
        (SMUG, b"hello"), requests=2,
        paths=("/c/http10_keepalive_two_bodies", "/c/http10_keepalive_two_bodies_2"))

    # ---- upgrades
    add("h2c_upgrade", head("h2c_upgrade", ["Connection: Upgrade, HTTP2-Settings", "Upgrade: h2c",
                                            "HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA"],
                            method="GET"),
        b"", forbid=("upgrade", "http2-settings"),
        note="h2c must not reach the backend as an upgrade request")
    add("h2c_upgrade_with_body",
        head("h2c_upgrade_with_body", ["Connection: Upgrade", "Upgrade: h2c", CL_SMUG]) + SMUG,
        SMUG, forbid=("upgrade",))
    add("h2c_upgrade_no_connection", head("h2c_upgrade_no_connection", ["Upgrade: h2c"], method="GET"),
        b"", forbid=("upgrade",))

    # ---- a second request in the body
    add("get_with_body_request", head("get_with_body_request", [CL_SMUG], method="GET") + SMUG, SMUG)
    add("get_chunked_body_request", head("get_chunked_body_request", te, method="GET") + CHUNKED_SMUG,
        SMUG)
    add("expect_continue_body_request",
        head("expect_continue_body_request", ["Expect: 100-continue", CL_SMUG]) + SMUG, SMUG)
    add("cl0_then_pipelined", head("cl0_then_pipelined", ["Content-Length: 0"], method="GET")
        + PIPELINED, (b"", b""), requests=2, paths=("/c/cl0_then_pipelined", "/pipelined"),
        note="CL 0: what follows is the client's next request, which the proxy itself reads")
    add("chunked_then_pipelined", head("chunked_then_pipelined", te) + chunked(b"abc") + PIPELINED,
        (b"abc", b""), requests=2, paths=("/c/chunked_then_pipelined", "/pipelined"))

    # ---- a hostile request after a good one on the same keep-alive connection:
    # the first is forwarded, the second refused (4xx, Proxy-Status, close).
    first = head("keepalive", [], method="GET")
    for name, second in {
        "keepalive_then_cl_te": head("keepalive_then_cl_te_2", [f"Content-Length: {len(cl_te_body)}",
                                                                "Transfer-Encoding: chunked"])
        + cl_te_body,
        "keepalive_then_dup_cl": head("keepalive_then_dup_cl_2", [CL_SMUG, "Content-Length: 5"]) + SMUG,
        "keepalive_then_obs_fold": head("keepalive_then_obs_fold_2", ["X-Pad: a", " b", CL_SMUG]) + SMUG,
        "keepalive_then_te_identity": head("keepalive_then_te_identity_2",
                                           ["Transfer-Encoding: identity"]) + CHUNKED_SMUG,
    }.items():
        add(name, first + second, b"", paths=("/c/keepalive",), then_refused=True)
    return cases


CASES = build_cases()
HOSTILE = [c for c in CASES if not c.must_accept]


def test_case_count():
    """The table holds 60+ hostile cases (printed with -s)."""
    names = [c.name for c in CASES]
    assert len(names) == len(set(names)), "duplicate case names"
    print(f"\nsmuggling table: {len(HOSTILE)} hostile cases + {len(CASES) - len(HOSTILE)} controls")
    assert len(HOSTILE) >= 60


@pytest.fixture(scope="module")
def rig(tmp_path_factory):
    """One capture backend and one gatehouse for the whole table."""
    backend = helpers.CaptureBackend()
    gh = helpers.Gatehouse({"server": {
        "timeouts": {"client_header": "2s", "client_body": "2s", "upstream_response": "5s"},
        "reverse_proxy": [route(backend, "/")],
    }}, tmp_path_factory.mktemp("smuggling"))
    yield gh, backend
    problem = gh.teardown()
    backend.stop()
    if problem:
        pytest.fail(problem, pytrace=False)


def snapshot(backend):
    with backend._lock:
        return [len(c.data) for c in backend.connections]


def new_bytes(backend, snap):
    """{connection index: bytes received since snap}."""
    with backend._lock:
        conns = list(backend.connections)
    out = {}
    for i, c in enumerate(conns):
        start = snap[i] if i < len(snap) else 0
        if len(c.data) > start:
            out[i] = bytes(c.data[start:])
    return out


def describe_partial(upstream, conns):
    """What kind of bytes a refused request left at the backend."""
    parts = []
    for idx, data in sorted(upstream.items()):
        try:
            reqs = hostile.strict_parse_requests(data)
            kind = f"{len(reqs)} complete request(s)"
        except hostile.Incomplete as e:
            kind = f"an unfinished request: {e}"
        except hostile.StrictError as e:
            kind = f"ill-framed bytes: {e}"
        closed = conns is not None and idx < len(conns) and conns[idx].closed
        parts.append(f"connection {idx}: {kind}, {'then closed' if closed else 'still open'}")
    return "; ".join(parts)


def judge(case, resps, leftover, trouble, closed, upstream, conns=None):
    """Returns a list of problems (empty: the case passed)."""
    problems = []
    if trouble:
        problems.append(f"client stream: {trouble}")
    backend_resps = [r for r in resps if r.header("x-capture") == "yes"]
    proxy_resps = [r for r in resps if r.header("x-capture") != "yes"]
    first = resps[0] if resps else None

    refused = first is not None and first.header("x-capture") != "yes"
    if refused:
        ok_status = 400 <= first.status < 500 or first.status in case.refusal_statuses
        if not ok_status:
            problems.append(f"refused with {first.status} (wanted 4xx)")
        if not hostile.is_proxy_error(first):
            problems.append(f"refusal {first.status} without a gatehouse Proxy-Status")
        if len(resps) > 1 or leftover:
            problems.append(f"bytes after the refusal: {len(resps) - 1} responses, {leftover[:60]!r}")
        if not closed:
            problems.append("connection not closed after the refusal")
        if upstream:
            problems.append(f"refused, yet the backend received {sum(map(len, upstream.values()))} "
                            f"bytes for it ({describe_partial(upstream, conns)}): "
                            f"{b''.join(upstream.values())[:400]!r}")
        return problems

    if first is None:
        problems.append(f"no response at all (closed={closed}, got {leftover[:80]!r})")
    if case.bodies is None:
        problems.append("accepted a request that must be refused")

    parsed = []
    for idx, data in sorted(upstream.items()):
        try:
            parsed += hostile.strict_parse_requests(data)
        except hostile.StrictError as e:
            problems.append(f"backend connection {idx} got ill-framed bytes ({e}): {data[:300]!r}")
    smuggled = [r for r in parsed if b"smuggled" in r.target]
    if smuggled:
        problems.append(f"the backend received the smuggled request: {smuggled}")
    want = case.requests
    if len(parsed) != want:
        problems.append(f"backend got {len(parsed)} requests, wanted {want}: {parsed}")
    if len(backend_resps) != len(parsed):
        problems.append(f"desync: {len(parsed)} backend requests but the client got "
                        f"{len(backend_resps)} backend responses")
    if case.then_refused and case.bodies is not None and backend_resps and not proxy_resps:
        problems.append(f"the bad request after the accepted one got no 4xx answer "
                        f"(connection {'closed silently' if closed else 'left open'})")
    for r in proxy_resps:
        if not (400 <= r.status < 500) or not hostile.is_proxy_error(r) or not closed:
            problems.append(f"after the accepted request(s): {r.status} {hostile.proxy_status(r)} "
                            f"(closed={closed})")
    paths = case.paths or (path_of(case.name),) * want
    for i, r in enumerate(parsed[:want]):
        if case.bodies is not None and r.body != case.bodies[min(i, len(case.bodies) - 1)]:
            problems.append(f"request {i}: body {r.body[:80]!r} != "
                            f"{case.bodies[min(i, len(case.bodies) - 1)][:80]!r}")
        if i < len(paths) and r.target.decode("latin-1") != paths[i]:
            problems.append(f"request {i}: target {r.target!r}, wanted {paths[i]}")
        if case.host and [v.decode("latin-1") for v in r.values("host")] != [case.host]:
            problems.append(f"request {i}: Host {r.values('host')}, wanted {case.host}")
        for name in case.forbid:
            if r.values(name):
                problems.append(f"request {i}: forwarded {name}: {r.values(name)}")
    if case.must_accept and (not backend_resps or backend_resps[0].status != 200):
        problems.append("a plain valid request was not passed through")
    return problems


@pytest.mark.deadline(30)
@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_hostile_request(rig, case):
    gh, backend = rig
    assert gh.proc.poll() is None, f"gatehouse died earlier:\n{gh.logs()[-3000:]}"
    snap = snapshot(backend)
    with helpers.connect(gh.port, timeout=10) as s:
        try:
            s.sendall(case.raw)
        except (BrokenPipeError, ConnectionResetError):
            pass
        data, closed = hostile.collect(s, idle=0.3, total=6.0)
    resps, leftover, trouble = hostile.parse_responses(data)
    time.sleep(0.05)  # anything the proxy forwarded late is recorded by now
    upstream = new_bytes(backend, snap)
    if upstream and resps and resps[0].header("x-capture") != "yes":
        # Refused after forwarding: let the backend notice the close, for the report.
        helpers.wait_until(lambda: all(backend.connections[i].closed for i in upstream), 0.4)
    problems = judge(case, resps, leftover, trouble, closed, upstream, backend.connections)
    statuses = [r.status for r in resps]
    assert not problems, (f"{case.name}: sent {case.raw[:300]!r}\n  responses {statuses}, "
                          f"closed={closed}\n  " + "\n  ".join(problems))
    assert gh.proc.poll() is None, f"gatehouse died:\n{gh.logs()[-3000:]}"


@pytest.mark.deadline(30)
def test_h2c_switch_from_backend_is_not_tunnelled(gatehouse):
    """A backend answering 101 to an h2c upgrade must not open a tunnel that
    carries the client's next bytes (an HTTP/2 preface, a smuggled request)
    to the backend unseen by the proxy."""
    b = helpers.CaptureBackend(response=b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n"
                                        b"Upgrade: h2c\r\n\r\n", mode="respond")
    try:
        gh = gatehouse({"server": {"reverse_proxy": [route(b, "/")]}})
        with helpers.connect(gh.port) as s:
            s.sendall(head("h2c_tunnel", ["Connection: Upgrade, HTTP2-Settings", "Upgrade: h2c",
                                          "HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA"], method="GET"))
            first, _ = hostile.collect(s, idle=0.5, total=4.0)
            try:
                s.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + SMUG)
            except OSError:
                pass
            rest, _ = hostile.collect(s, idle=0.5, total=3.0)
        resps, _, _ = hostile.parse_responses(first + rest)
        assert not first.startswith(b"HTTP/1.1 101"), f"the client got a 101: {first[:200]!r}"
        time.sleep(0.1)
        with b._lock:
            received = b"".join(bytes(c.data) for c in b.connections)
        assert b"PRI * HTTP/2.0" not in received and b"/smuggled" not in received, received[:400]
        assert resps and resps[0].status == 502 and hostile.is_proxy_error(resps[0]), \
            [(r.status, r.headers) for r in resps]
    finally:
        b.stop()
