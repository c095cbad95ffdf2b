# Quick start:  make run   (install deps, build, run gpumod on the bundled example)
#               make test  (install deps, build, run every test)
BUILD ?= build
JOBS  ?= $(shell nproc 2>/dev/null || echo 2)
GPUMOD = $(BUILD)/bin/gpumod

# Debian 12 packages gpumod needs to build and test (dbus-daemon: a private bus for the sd-bus tests).
DEB_PACKAGES = g++ cmake make pkg-config ccache libsqlite3-dev libyaml-cpp-dev nlohmann-json3-dev \
  libcpp-httplib-dev libssl-dev libcli11-dev libfmt-dev libgtest-dev libgmock-dev \
  libbenchmark-dev libsystemd-dev dbus-daemon

.PHONY: all deps configure build run test node-deps bench clean

all: build

deps:
	@missing=""; for p in $(DEB_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  SUDO=""; [ "$$(id -u)" -ne 0 ] && SUDO=sudo; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	fi

$(BUILD)/CMakeCache.txt:
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo

configure: deps $(BUILD)/CMakeCache.txt

build: configure
	cmake --build $(BUILD) -j $(JOBS)

run: build
	@$(GPUMOD) demo

# The e2e tests start daemons and servers on free loopback ports; one test at a time keeps a port
# picked by one test from being taken by another's connections (the suite takes under a minute).
test: build node-deps
	cd $(BUILD) && ctest --output-on-failure -j 1 --timeout 300

# The official openai npm client for the OpenAI-endpoint e2e tests (pinned, lockfile committed).
node-deps:
	@if command -v npm >/dev/null 2>&1; then cd tests/node/openai && npm ci --no-audit --no-fund --ignore-scripts; \
	else echo "npm not found: the OpenAiNodeE2E tests will be skipped (install Node 20 + npm to run them)"; fi

bench: deps
	cmake -S . -B $(BUILD)-bench -DCMAKE_BUILD_TYPE=Release -DGPUMOD_BUILD_BENCH=ON -DGPUMOD_BUILD_TESTS=OFF
	cmake --build $(BUILD)-bench -j $(JOBS)
	bash bench/run_all.sh $(BUILD)-bench

clean:
	rm -rf $(BUILD) $(BUILD)-bench
