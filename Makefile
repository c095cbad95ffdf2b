# Quick start:  make run   (install deps, build, run gpumod on the bundled example)
#               make test  (install deps, build, run every test)
BUILD ?= build
JOBS  ?= $(shell nproc 2>/dev/null || echo 2)
GPUMOD = $(BUILD)/bin/gpumod

# Debian 12 packages: what `make run` needs to build gpumod (RUN_PACKAGES), what the tests add
# (TEST_PACKAGES; dbus-daemon: a private bus for the sd-bus tests; prometheus: promtool and a real
# scraper for the /metrics tests; tmux: the e2e test of gpumod top, whose ncurses is opened at run
# time), what the benchmarks add.
RUN_PACKAGES = g++ cmake make ninja-build pkg-config ccache libsqlite3-dev libyaml-cpp-dev nlohmann-json3-dev \
  libcpp-httplib-dev libssl-dev libcli11-dev libfmt-dev libsystemd-dev
TEST_PACKAGES = libgtest-dev libgmock-dev dbus-daemon prometheus tmux libncurses-dev
BENCH_PACKAGES = libbenchmark-dev
DEB_PACKAGES = $(RUN_PACKAGES) $(TEST_PACKAGES) $(BENCH_PACKAGES)
# Ninja when present (faster than make for the same targets).
GENERATOR = $(shell command -v ninja >/dev/null 2>&1 && echo "-G Ninja")

.PHONY: all deps deps-run deps-test configure build run test bench clean node-deps

all: build

# Installs those of the Debian packages $(1) that are missing (apt-get).
define install_missing
	@missing=""; for p in $(1); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  SUDO=""; [ "$$(id -u)" -ne 0 ] && SUDO=sudo; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	fi
endef

deps:
	$(call install_missing,$(DEB_PACKAGES))
deps-run:
	$(call install_missing,$(RUN_PACKAGES))
deps-test: deps-run
	$(call install_missing,$(TEST_PACKAGES))

$(BUILD)/CMakeCache.txt:
	cmake -S . -B $(BUILD) $(GENERATOR) -DCMAKE_BUILD_TYPE=RelWithDebInfo

configure: deps-run $(BUILD)/CMakeCache.txt

build: deps configure
	cmake -S . -B $(BUILD) > /dev/null
	cmake --build $(BUILD) -j $(JOBS)

# Builds only what it runs: the CLI and the mock server (not the tests or the tools).
run: deps-run configure
	cmake --build $(BUILD) -j $(JOBS) --target gpumod gpumod-mock-server
	@$(GPUMOD) demo

# The e2e tests start daemons and servers on free loopback ports; one test at a time keeps a port
# picked by one test from being taken by another's connections (the suite takes under a minute).
# The re-configure picks up GoogleTest when deps-test has just installed it.
test: deps-test configure node-deps
	cmake -S . -B $(BUILD) > /dev/null
	cmake --build $(BUILD) -j $(JOBS)
	cd $(BUILD) && ctest --output-on-failure -j 1 --timeout 300

# Node packages of the Node-driven tests, exactly as locked (tests/node/*/package-lock.json).
NODE_SUITES = tests/node/mcp tests/node/openai
node-deps:
	@if command -v npm >/dev/null 2>&1; then \
	  for d in $(NODE_SUITES); do (cd $$d && npm ci --no-audit --no-fund --loglevel=error) || exit 1; done; \
	else echo "npm not found: the Node client tests (McpNode.*, OpenAiNodeE2E.*) will be skipped; install Node 20+ and npm to run them"; fi

bench: deps
	cmake -S . -B $(BUILD)-bench $(GENERATOR) -DCMAKE_BUILD_TYPE=Release -DGPUMOD_BUILD_BENCH=ON -DGPUMOD_BUILD_TESTS=OFF
	cmake --build $(BUILD)-bench -j $(JOBS)
	bash bench/run_all.sh $(BUILD)-bench

clean:
	rm -rf $(BUILD) $(BUILD)-bench
