"""Packaging (issue 16): the .deb built by CPack, installed into a throwaway
root, `make install`, the systemd unit and the Dockerfile's runtime libraries.

The .deb is built from the CMake build dir: GATEHOUSE_BUILD when it holds
CPackConfig.cmake, else the repository's build/. No build dir is a failure;
only missing tools (cpack, dpkg, dpkg-deb, dpkg-shlibdeps) skip.
"""

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

import helpers
from helpers import REPO, free_port, http_request, wait_until

pytestmark = pytest.mark.deadline(180)

VERSION = re.search(r"project\(gatehouse VERSION (\S+)", (REPO / "CMakeLists.txt").read_text()).group(1)
UNIT = REPO / "packaging" / "gatehouse.service"
CONFIG = REPO / "packaging" / "gatehouse.yaml"

# What the package holds outside /usr/share/doc, exactly.
PACKAGED = {
    "etc/gatehouse/gatehouse.yaml",
    "usr/bin/gatehouse",
    "usr/lib/systemd/system/gatehouse.service",
}
# Verbs that would start or enable something from a maintainer script.
STARTING = re.compile(
    r"\b(systemctl|deb-systemd-invoke|deb-systemd-helper|invoke-rc\.d|service)\b[^\n]*"
    r"\b(start|restart|try-restart|reload-or-restart|enable|reenable|unmask)\b")


def run(cmd, timeout=120, check=True, **kw):
    r = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=timeout, **kw)
    if check and r.returncode != 0:
        raise AssertionError(f"{cmd} exited {r.returncode}:\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}")
    return r


def build_dir():
    for d in (helpers.BUILD, REPO / "build"):
        if (d / "CPackConfig.cmake").is_file() and (d / "gatehouse").is_file():
            return d
    pytest.fail(f"no CMake build dir with CPackConfig.cmake and gatehouse: tried {helpers.BUILD} "
                f"and {REPO / 'build'} (configure and build first)")


def need_tools(*tools):
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        pytest.skip(f"missing tools: {' '.join(missing)} (Debian: cmake, dpkg, dpkg-dev)")


def needed_packages(binary):
    """The Debian packages holding each library the binary names in NEEDED,
    found through ldd's resolution and `dpkg -S`."""
    needed = re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", run(["readelf", "-d", binary]).stdout)
    resolved = dict(re.findall(r"^\s*(\S+) => (\S+)", run(["ldd", binary]).stdout, re.M))
    assert needed and set(needed) <= set(resolved), (needed, resolved)
    pkgs = {}
    for soname in needed:
        path = Path(resolved[soname])
        # usrmerge: dpkg knows a library by the path its package shipped it at.
        candidates = [path, path.resolve()]
        candidates += [Path(str(c).replace("/usr/lib/", "/lib/", 1)) for c in list(candidates)]
        candidates += [Path("/usr" + str(c)) for c in list(candidates) if not str(c).startswith("/usr/")]
        owner = None
        for c in candidates:
            r = run(["dpkg", "-S", c], check=False)
            if r.returncode == 0:
                owner = r.stdout.split(":")[0].strip()
                break
        assert owner, f"no Debian package owns {soname} ({path})"
        pkgs[soname] = owner
    return pkgs


@pytest.fixture(scope="module")
def deb(tmp_path_factory):
    need_tools("cpack", "dpkg", "dpkg-deb", "dpkg-shlibdeps")
    build = build_dir()
    out = tmp_path_factory.mktemp("cpack")
    run(["cpack", "--config", build / "CPackConfig.cmake", "-G", "DEB", "-B", out], timeout=150)
    debs = list(out.glob("gatehouse_*.deb"))
    assert len(debs) == 1, debs
    return debs[0]


def control(deb):
    fields = {}
    for line in run(["dpkg-deb", "-f", deb]).stdout.splitlines():
        if line[:1] not in (" ", "") and ":" in line:
            k, v = line.split(":", 1)
            fields[k] = v.strip()
    return fields


def test_deb_control_fields_and_depends(deb):
    f = control(deb)
    assert f["Package"] == "gatehouse"
    assert f["Version"] == VERSION
    assert f["Section"] == "net"
    assert "@" in f["Maintainer"]
    assert f["Description"]
    assert deb.name == f"gatehouse_{VERSION}_{f['Architecture']}.deb"
    # Depends comes from dpkg-shlibdeps: every library the binary links is there.
    depends = {d.split()[0] for d in f["Depends"].split(",")}
    missing = {so: p for so, p in needed_packages(build_dir() / "gatehouse").items() if p not in depends}
    assert not missing, f"Depends {sorted(depends)} misses {missing}"


def test_deb_files_and_conffiles(deb, tmp_path):
    listing = run(["dpkg-deb", "-c", deb]).stdout
    files = {line.split()[-1].removeprefix("./") for line in listing.splitlines() if line.startswith("-")}
    assert {f for f in files if not f.startswith("usr/share/doc/gatehouse/")} == PACKAGED
    assert {"usr/share/doc/gatehouse/deploy.md", "usr/share/doc/gatehouse/configuration.md",
            "usr/share/doc/gatehouse/README.md"} <= files
    assert not [f for f in files if re.search(r"demo-origin|_tests$|fuzz", f)]
    # Owned by root, the binary executable, the config not writable by others.
    modes = {line.split()[-1].removeprefix("./"): (line.split()[0], line.split()[1])
             for line in listing.splitlines()}
    assert modes["usr/bin/gatehouse"] == ("-rwxr-xr-x", "root/root")
    assert modes["etc/gatehouse/gatehouse.yaml"] == ("-rw-r--r--", "root/root")

    run(["dpkg-deb", "-e", deb, tmp_path / "ctl"])
    assert (tmp_path / "ctl" / "conffiles").read_text().split() == ["/etc/gatehouse/gatehouse.yaml"]


def test_deb_maintainer_scripts_start_nothing(deb, tmp_path):
    ctl = tmp_path / "ctl"
    run(["dpkg-deb", "-e", deb, ctl])
    scripts = {n: (ctl / n) for n in ("postinst", "prerm", "postrm", "preinst") if (ctl / n).exists()}
    assert set(scripts) >= {"postinst", "prerm", "postrm"}
    for name, path in scripts.items():
        assert os.access(path, os.X_OK), name
        text = path.read_text()
        code = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
        assert not STARTING.search(code), f"{name} starts or enables something: {STARTING.search(code)[0]}"
        run(["sh", "-n", path])

    # Run them as if systemd were PID 1 (a private mount namespace with
    # /run/systemd/system), with a systemctl that only records its arguments:
    # an install, an upgrade and a removal call daemon-reload, and stop only on
    # removal; never start or enable.
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        pytest.skip("running the scripts under a fake systemd needs root and unshare")
    fake = tmp_path / "bin"
    fake.mkdir()
    log = tmp_path / "systemctl.log"
    for tool in ("systemctl", "deb-systemd-invoke", "deb-systemd-helper", "invoke-rc.d", "service"):
        (fake / tool).write_text(f'#!/bin/sh\necho "{tool} $*" >> {log}\n')
        (fake / tool).chmod(0o755)
    steps = [("postinst", "configure"), ("prerm", "upgrade", "9.9"), ("postinst", "configure", VERSION),
             ("prerm", "remove"), ("postrm", "remove")]
    calls = " && ".join(f"{scripts[s]} {' '.join(a)}" for s, *a in steps)
    env = {"PATH": f"{fake}:/usr/sbin:/usr/bin:/sbin:/bin"}
    r = run(["unshare", "--mount", "--propagation", "private", "sh", "-c",
             f"mount -t tmpfs tmpfs /run && mkdir -p /run/systemd/system && {calls}"],
            check=False, env=env, timeout=30)
    if r.returncode != 0 and "unshare" in r.stderr and not log.exists():
        pytest.skip(f"no private mount namespace here: {r.stderr.strip()}")
    assert r.returncode == 0, r.stderr
    assert log.read_text().splitlines() == [
        "systemctl daemon-reload",                 # postinst configure
        "systemctl daemon-reload",                 # postinst configure (upgrade; prerm upgrade stops nothing)
        "systemctl stop gatehouse.service",        # prerm remove
        "systemctl daemon-reload",                 # postrm remove
    ]


def healthz(port):
    try:
        return http_request(port, target="/healthz", timeout=2.0).status
    except OSError:
        return None


def dpkg_root(tmp_path):
    root = tmp_path / "root"
    for d in ("var/lib/dpkg/info", "var/lib/dpkg/updates", "var/lib/dpkg/triggers"):
        (root / d).mkdir(parents=True)
    for f in ("status", "available"):
        (root / "var/lib/dpkg" / f).touch()
    return root


def dpkg(root, *args):
    # Scripts run outside the root (it has no shell), with DPKG_ROOT set: the
    # host's systemd is left alone. Depends are not installed in the root.
    return run(["dpkg", f"--root={root}", "--log=/dev/null", "--force-not-root",
                "--force-script-chrootless", "--force-depends", *args], timeout=60,
               stdin=subprocess.DEVNULL)


def test_deb_installs_into_a_throwaway_root_and_runs(deb, tmp_path, origin, monkeypatch):
    root = dpkg_root(tmp_path)
    dpkg(root, "-i", deb)
    status = run(["dpkg-query", f"--root={root}", "-W", "-f=${Status} ${Version}", "gatehouse"]).stdout
    assert status == f"install ok installed {VERSION}"
    for f in PACKAGED:
        assert (root / f).is_file(), f
    binary = root / "usr/bin/gatehouse"
    installed_config = root / "etc/gatehouse/gatehouse.yaml"
    assert run([binary, "version"]).stdout.startswith(f"gatehouse {VERSION}")
    r = run([binary, "check", "-c", installed_config])
    assert "ok" in r.stdout + r.stderr
    assert installed_config.read_text() == CONFIG.read_text()

    # The installed binary serves the installed config (its ports moved to
    # free ones, its backend to a demo origin): a request reaches the origin
    # and the admin /healthz answers.
    o = origin()
    text = installed_config.read_text()
    port, admin_port = free_port(), free_port()
    text = (text.replace("host: 0.0.0.0", "host: 127.0.0.1").replace("port: 8080", f"port: {port}")
            .replace("port: 9901", f"port: {admin_port}").replace("127.0.0.1:3000", o.address))
    assert f"port: {port}" in text and o.address in text and f"port: {admin_port}" in text
    monkeypatch.setattr(helpers, "GATEHOUSE", binary)
    gh = helpers.Gatehouse(text, tmp_path / "run")
    try:
        assert gh.port == port
        assert http_request(port, target="/hello").status == 200
        assert wait_until(lambda: healthz(admin_port) == 200)
    finally:
        gh.stop()

    # The config is a conffile: an edit survives a reinstall (upgrade path,
    # no prompt while the packaged file is unchanged) and removal; purge
    # deletes it.
    installed_config.write_text(installed_config.read_text() + "# local edit\n")
    dpkg(root, "-i", deb)
    assert installed_config.read_text().endswith("# local edit\n")
    assert binary.is_file()
    dpkg(root, "-r", "gatehouse")
    assert not binary.exists() and not (root / "usr/lib/systemd/system/gatehouse.service").exists()
    assert installed_config.read_text().endswith("# local edit\n")
    dpkg(root, "--purge", "gatehouse")
    assert not installed_config.exists()


def test_make_install_layout(tmp_path):
    need_tools("make", "cmake")
    build = build_dir()
    for prefix in ("/usr", "/usr/local"):
        dest = tmp_path / prefix.strip("/").replace("/", "_")
        # -o build -o deps: install what is built, without rebuilding every test binary.
        run(["make", "--no-print-directory", "-C", REPO, "-o", "build", "-o", "deps", "install",
             f"BUILD={build}", f"DESTDIR={dest}", f"PREFIX={prefix}"], timeout=120)
        files = {str(p.relative_to(dest)) for p in dest.rglob("*") if p.is_file()}
        p = prefix.strip("/")
        expected = {"etc/gatehouse/gatehouse.yaml", f"{p}/bin/gatehouse", f"{p}/lib/systemd/system/gatehouse.service"}
        assert {f for f in files if "/share/doc/gatehouse/" not in f} == expected
        assert f"{p}/share/doc/gatehouse/deploy.md" in files
        assert os.access(dest / p / "bin/gatehouse", os.X_OK)
        unit = (dest / p / "lib/systemd/system/gatehouse.service").read_text()
        # The installed unit names the binary where it was installed.
        assert f"ExecStart={prefix}/bin/gatehouse run -c /etc/gatehouse/gatehouse.yaml" in unit
        assert run([dest / p / "bin/gatehouse", "check", "-c", dest / "etc/gatehouse/gatehouse.yaml"]).returncode == 0
        # Installing again keeps the operator's edited config.
        conf = dest / "etc/gatehouse/gatehouse.yaml"
        conf.write_text(conf.read_text() + "# edited by the operator\n")
        run(["make", "--no-print-directory", "-C", REPO, "-o", "build", "-o", "deps", "install",
             f"BUILD={build}", f"DESTDIR={dest}", f"PREFIX={prefix}"], timeout=120)
        assert conf.read_text().endswith("# edited by the operator\n")


def unit_settings(text):
    settings = {}
    for line in text.splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            k, v = line.split("=", 1)
            settings.setdefault(k, []).append(v)
    return settings


def test_systemd_unit(tmp_path):
    s = unit_settings(UNIT.read_text())
    one = {k: v[-1] for k, v in s.items()}
    assert one["Type"] == "notify" and one["NotifyAccess"] == "all"
    assert one["ExecStart"] == "/usr/bin/gatehouse run -c /etc/gatehouse/gatehouse.yaml"
    assert s["ExecReload"][-1] == "/bin/kill -HUP $MAINPID"
    assert one["KillSignal"] == "SIGTERM"
    # The stop timeout outlasts the drain (default 30s, and the packaged config's).
    drain = int(re.search(r"shutdown_drain: (\d+)s", CONFIG.read_text()).group(1))
    assert int(one["TimeoutStopSec"].removesuffix("s")) > max(30, drain)
    for key, value in {
        "DynamicUser": "yes", "CapabilityBoundingSet": "CAP_NET_BIND_SERVICE",
        "AmbientCapabilities": "CAP_NET_BIND_SERVICE", "NoNewPrivileges": "yes",
        "ProtectSystem": "strict", "ProtectHome": "yes", "PrivateTmp": "yes", "PrivateDevices": "yes",
        "ProtectKernelTunables": "yes", "ProtectKernelModules": "yes", "ProtectKernelLogs": "yes",
        "RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX AF_NETLINK", "SystemCallFilter": "@system-service",
        "StateDirectory": "gatehouse", "LogsDirectory": "gatehouse", "ConfigurationDirectory": "gatehouse",
    }.items():
        assert one.get(key) == value, (key, one.get(key))
    assert int(one["LimitNOFILE"]) >= 40000   # 20000 connections, each with an upstream

    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze missing: the unit's syntax is not verified")
    # verify wants ExecStart's binary to exist: point it at the built one.
    unit = tmp_path / "gatehouse.service"
    unit.write_text(UNIT.read_text().replace("/usr/bin/gatehouse", str(build_dir() / "gatehouse")))
    r = run(["systemd-analyze", "verify", unit], check=False, timeout=60)
    assert r.returncode == 0 and r.stderr.strip() == "" and r.stdout.strip() == "", r.stdout + r.stderr
    r = run(["systemd-analyze", "security", "--offline=true", "--no-pager", unit], check=False, timeout=60)
    exposure = re.search(r"Overall exposure level for gatehouse\.service: ([\d.]+)", r.stdout)
    assert exposure and float(exposure.group(1)) <= 3.0, r.stdout[-2000:] + r.stderr


def dockerfile_stages():
    stages, cur = [], None
    text = (REPO / "Dockerfile").read_text().replace("\\\n", " ")
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.upper().startswith("FROM "):
            cur = {"from": line.split()[1], "lines": []}
            stages.append(cur)
        elif cur is not None:
            cur["lines"].append(line)
    return stages


def test_dockerfile_runtime_libraries_cover_the_binary():
    stages = dockerfile_stages()
    assert len(stages) == 2 and all(s["from"] == "debian:12-slim" for s in stages)
    runtime = stages[-1]["lines"]
    installs = [line for line in runtime if line.startswith("RUN ") and "apt-get install" in line]
    assert len(installs) == 1, installs
    after = installs[0].split("apt-get install", 1)[1].split("&&")[0].split()
    packages = {w for w in after if not w.startswith("-")}
    needed = needed_packages(build_dir() / "gatehouse")
    # The image builds without sanitizers; a sanitized build (make test-asan)
    # links their runtimes too.
    needed = {so: p for so, p in needed.items() if not re.match(r"lib(a|ub|l|t)san\.", so)}
    missing = {so: p for so, p in needed.items() if p not in packages}
    assert not missing, f"the Dockerfile's runtime stage does not install {missing}"

    lines = {line.split()[0].upper(): line for line in runtime}
    user = [line for line in runtime if line.upper().startswith("USER ")][-1].split()[1]
    assert user.split(":")[0] not in ("0", "root")
    assert set(lines["EXPOSE"].split()[1:]) == {"8080", "8443"}
    assert lines["ENTRYPOINT"] == 'ENTRYPOINT ["/usr/bin/gatehouse"]'
    assert lines["CMD"] == 'CMD ["run", "-c", "/etc/gatehouse/gatehouse.yaml"]'
    assert lines["STOPSIGNAL"] == "STOPSIGNAL SIGTERM"
    assert "COPY packaging/gatehouse.yaml /etc/gatehouse/gatehouse.yaml" in runtime
    # The builder builds the shipped binary only, with the build packages of deps.sh.
    builder = " ".join(stages[0]["lines"])
    assert "scripts/deps.sh build" in builder and "-DGH_BUILD_TESTS=OFF" in builder


def syscall_group(name, seen=None):
    """The system calls `systemd-analyze syscall-filter` lists for a @group,
    nested groups expanded."""
    seen = set() if seen is None else seen
    if name in seen:
        return set()
    seen.add(name)
    out = run(["systemd-analyze", "syscall-filter", name], timeout=30).stdout
    calls = set()
    for line in out.splitlines()[1:]:
        word = line.strip()
        if not word or word.startswith("#"):
            continue
        calls |= syscall_group(word, seen) if word.startswith("@") else {word}
    return calls


def test_unit_sandbox_allows_what_gatehouse_does(tmp_path, origin):
    """The unit's SystemCallFilter=@system-service and RestrictAddressFamilies
    cannot be tried without systemd as PID 1; instead gatehouse runs under
    strace through start, plain and TLS requests, the admin endpoints, a
    reload and a drain, and every system call and socket family it used must
    be allowed by the unit."""
    need_tools("strace", "systemd-analyze")
    if os.environ.get("GATEHOUSE_SANITIZED"):
        pytest.skip("a sanitized build makes system calls the shipped binary does not")
    import ssl as ssl_mod
    import socket
    import signal as sig
    import time

    import trustme
    import tls_helpers as th

    settings = unit_settings(UNIT.read_text())
    allowed = set()
    for line in settings["SystemCallFilter"]:   # every line adds to the allow list
        for word in line.split():
            allowed |= syscall_group(word) if word.startswith("@") else {word}
    families = set(settings["RestrictAddressFamilies"][-1].split())
    assert {"epoll_wait", "accept4", "sendmsg"} <= allowed

    leaf = th.write_leaf(trustme.CA(), tmp_path / "pki", "front", ["front.test"], "front")
    o = origin()
    port, tls_port, admin_port = free_port(), free_port(), free_port()
    backend_port = o.address.rsplit(":", 1)[1]
    config = tmp_path / "gatehouse.yaml"
    config.write_text(f"""\
server:
  host: 127.0.0.1
  port: {port}
  workers: 2
  reverse_proxy:
    - path: /byname
      host: localhost
      port: {backend_port}
    - path: /
      backends:
        - address: {o.address}
ssl:
  enabled: true
  port: {tls_port}
  cert_file: {leaf.cert}
  key_file: {leaf.key}
admin:
  enabled: true
  host: 127.0.0.1
  port: {admin_port}
""")
    trace = tmp_path / "strace.log"
    log = open(tmp_path / "gatehouse.log", "wb")
    proc = subprocess.Popen(["strace", "-f", "-qq", "-o", str(trace), str(build_dir() / "gatehouse"),
                             "run", "-c", str(config)], stdout=log, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL)
    try:
        assert wait_until(lambda: healthz(admin_port) == 200, timeout=20), \
            (tmp_path / "gatehouse.log").read_text()[-2000:]
        assert http_request(port, target="/a").status == 200
        assert http_request(port, target="/byname/b").status == 200
        ctx = ssl_mod.create_default_context(cafile=None)
        ctx.check_hostname, ctx.verify_mode = False, ssl_mod.CERT_NONE
        with socket.create_connection(("127.0.0.1", tls_port), timeout=10) as raw:
            with ctx.wrap_socket(raw, server_hostname="front.test") as s:
                s.sendall(b"GET /tls HTTP/1.1\r\nHost: front.test\r\nConnection: close\r\n\r\n")
                data = b""
                while chunk := s.recv(65536):
                    data += chunk
        assert data.startswith(b"HTTP/1.1 200"), data[:200]
        for path in ("/status", "/metrics"):
            http_request(admin_port, target=path)
        # strace's own pid is proc.pid; gatehouse is its child.
        children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
        assert children, "gatehouse did not start under strace"
        gh = int(children[0])
        os.kill(gh, sig.SIGHUP)
        time.sleep(0.5)
        assert http_request(port, target="/after-reload").status == 200
        os.kill(gh, sig.SIGTERM)
        proc.wait(timeout=40)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        log.close()

    text = trace.read_text()
    used = set(re.findall(r"^\d+\s+([a-z_0-9]+)\(", text, re.M))
    assert {"accept4", "connect", "execve"} <= used, sorted(used)
    assert not used - allowed, f"system calls outside {settings['SystemCallFilter'][-1]}: {sorted(used - allowed)}"
    used_families = set(re.findall(r"^\d+\s+socket\((AF_[A-Z0-9]+)", text, re.M))
    assert used_families and used_families <= families, f"socket families {used_families} vs {families}"
