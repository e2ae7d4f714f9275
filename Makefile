# gatehouse: `make run` (demo on localhost:8080) and `make test` (everything).
SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -c
BUILD ?= build
PY := /usr/bin/python3
JOBS ?= $(shell nproc)
# e2e files run on this many pytest-xdist workers (python3-pytest-xdist): the
# tests mostly wait on sockets and timers, so two workers halve the wall time
# even on two cores. E2E_JOBS=0 runs them in one process.
E2E_JOBS ?= 2
E2E_XDIST := $(if $(filter-out 0,$(E2E_JOBS)),-n $(E2E_JOBS))

.PHONY: all deps build run test unit e2e clean test-asan fuzz install deb

all: build

deps:
	@scripts/deps.sh

$(BUILD)/build.ninja:
	cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null

build: deps $(BUILD)/build.ninja
	@cmake --build $(BUILD) -j $(JOBS)

run: build
	@scripts/run-demo.sh $(BUILD)

unit: build
	@cd $(BUILD) && ctest --output-on-failure -j $(JOBS) --timeout 120 \
	  | grep -vE '^ *(Start +[0-9]+:|[0-9]+/[0-9]+ Test +#[0-9]+: .* Passed)'

e2e: build
	GATEHOUSE_BUILD=$(abspath $(BUILD)) $(PY) -m pytest -q -p no:cacheprovider $(E2E_XDIST) tests/e2e $(PYTEST_ARGS)

test: unit e2e

# The whole suite again under AddressSanitizer + UndefinedBehaviorSanitizer.
ASAN_BUILD ?= build-asan
test-asan: deps
	@[ -f $(ASAN_BUILD)/build.ninja ] || cmake -S . -B $(ASAN_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DGH_SANITIZE=ON >/dev/null
	@cmake --build $(ASAN_BUILD) -j $(JOBS)
	@cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
	  LSAN_OPTIONS=suppressions=$(abspath tests/lsan.supp) \
	  ctest --output-on-failure -j $(JOBS) --timeout 300 \
	  | grep -vE '^ *(Start +[0-9]+:|[0-9]+/[0-9]+ Test +#[0-9]+: .* Passed)'
	LSAN_OPTIONS=suppressions=$(abspath tests/lsan.supp) \
	  GATEHOUSE_BUILD=$(abspath $(ASAN_BUILD)) GATEHOUSE_SANITIZED=1 $(PY) -m pytest -q -p no:cacheprovider $(E2E_XDIST) tests/e2e $(PYTEST_ARGS)

SECONDS ?= 30
fuzz:
	@scripts/fuzz.sh $(SECONDS)

clean:
	rm -rf $(BUILD)

# The binary, the systemd unit, /etc/gatehouse/gatehouse.yaml and the docs
# (cmake/packaging.cmake). `make install DESTDIR=/tmp/stage PREFIX=/usr/local`.
PREFIX ?= /usr
install: build
	DESTDIR=$(DESTDIR) cmake --install $(BUILD) --prefix $(PREFIX)

# The Debian package, $(BUILD)/gatehouse_<version>_<arch>.deb (Depends from
# dpkg-shlibdeps). Installing it enables and starts nothing (docs/deploy.md).
deb: build
	cd $(BUILD) && cpack -G DEB

# The public HTTP cache test suite (npm http-cache-tests) against gatehouse,
# nginx, Varnish and HAProxy; not part of `make test`. PROXIES=nginx to pick.
.PHONY: cache-tests
cache-tests:
	@tests/cache-tests/run.sh $(PROXIES)
