# gatehouse on Debian 12 slim, running as a non-root user (docs/deploy.md).
#   docker build -t gatehouse .
#   docker run --rm -p 8080:8080 -v $PWD/gatehouse.yaml:/etc/gatehouse/gatehouse.yaml:ro gatehouse

# Builder: the build packages from scripts/deps.sh (build only: no test
# tools), a Release build of the gatehouse binary alone (no unit tests,
# no demo-origin), stripped.
FROM debian:12-slim AS build
COPY scripts/deps.sh /src/scripts/deps.sh
RUN /src/scripts/deps.sh build
COPY . /src
RUN cmake -S /src -B /build -G Ninja -DCMAKE_BUILD_TYPE=Release -DGH_BUILD_TESTS=OFF \
 && cmake --build /build --target gatehouse \
 && DESTDIR=/out cmake --install /build --prefix /usr --strip

# Runtime: the shared libraries the binary links (the same set as the .deb's
# Depends, which dpkg-shlibdeps computes; tests/e2e/test_package.py fails
# when this list misses one), CA certificates for upstream TLS and jwks_url,
# and the OWASP CRS for `waf: {rules: crs}`.
FROM debian:12-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      libc6 libgcc-s1 libstdc++6 \
      libssl3 libyaml-cpp0.7 libnghttp2-14 zlib1g libbrotli1 libzstd1 libcrypt1 \
      libhiredis0.14 libmodsecurity3 libcurl4 libsystemd0 \
      ca-certificates modsecurity-crs \
 && rm -rf /var/lib/apt/lists/*
# A fixed uid, so mounted files (certificates, keys) can be owned by it.
RUN groupadd --system --gid 10001 gatehouse \
 && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/gatehouse --shell /usr/sbin/nologin gatehouse \
 && install -d -o gatehouse -g gatehouse -m 0750 /var/lib/gatehouse /var/log/gatehouse
COPY --from=build /out/usr/bin/gatehouse /usr/bin/gatehouse
COPY packaging/gatehouse.yaml /etc/gatehouse/gatehouse.yaml
USER 10001:10001
WORKDIR /var/lib/gatehouse
# 8080: the default config's HTTP listener; 8443: TLS when configured.
# The admin listener (9901) stays on the container's 127.0.0.1 unless the
# config says otherwise. No HEALTHCHECK: the image has no HTTP client;
# probe the admin /healthz from outside (docs/deploy.md).
EXPOSE 8080 8443
# SIGTERM drains for server.timeouts.shutdown_drain (30s by default):
# stop with `docker stop -t 40` or lower the drain.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/bin/gatehouse"]
CMD ["run", "-c", "/etc/gatehouse/gatehouse.yaml"]
