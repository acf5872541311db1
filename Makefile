# mydocker: `make demo` and `make test` do all set-up on a fresh Debian
# machine, as root. Go (1.26+) is expected at /usr/local/go or on PATH.
SHELL := /bin/bash
export PATH := /usr/local/go/bin:$(PATH)
export CGO_ENABLED := 1

BIN      := bin/mydocker
VERSION  := $(shell git describe --always --dirty 2>/dev/null || echo dev)
GOFILES  := $(shell find . -name '*.go' -not -path './.cache/*') $(wildcard nsenter/*.c) go.mod go.sum
# Debian packages: what mydocker needs at run time, and what the tests and
# benchmarks use (runc and crun run beside mydocker in `make bench`).
RUN_PKGS  := iptables busybox-static libseccomp-dev pkg-config
TEST_PKGS := gcc curl runc crun iproute2 util-linux docker-registry docker.io skopeo nftables
# What `make test-cgroupv2` boots: Debian's kernel under QEMU.
VM_PKGS   := qemu-system-x86 linux-image-amd64 cpio xz-utils kmod

.PHONY: all build deps deps-vm demo test test-cgroupv2 bench bench-scale lint clean

all: build

$(BIN): $(GOFILES)
	go build -tags netgo,osusergo -ldflags "-X main.version=$(VERSION) -linkmode external -extldflags -static" -o $@ .

build: $(BIN)

# deps installs whatever Debian packages are missing (apt-get update first,
# once, as a fresh machine needs).
define apt_install
	@missing=""; for p in $(1); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi
endef

deps:
	@[ "$$(id -u)" = 0 ] || { echo "make: run as root: containers need it" >&2; exit 1; }
	@command -v go >/dev/null || { echo "make: Go 1.26+ is required (not found at /usr/local/go/bin or on PATH)" >&2; exit 1; }
	$(call apt_install,$(RUN_PKGS) $(TEST_PKGS))

deps-vm: deps
	$(call apt_install,$(VM_PKGS))

busybox.tar: hack/mkbusybox.sh | deps
	hack/mkbusybox.sh $@

# demo ends inside a busybox shell in a fresh container.
demo: deps build busybox.tar
	$(BIN) import busybox.tar busybox >/dev/null
	$(BIN) run -it --rm busybox sh

lint: deps
	@fmt=$$(gofmt -l $$(git ls-files '*.go')); [ -z "$$fmt" ] || { echo "gofmt needed: $$fmt" >&2; exit 1; }
	go vet ./...

E2E_ENV := MYDOCKER_BIN=$(abspath $(BIN)) MYDOCKER_BUSYBOX_TAR=$(abspath busybox.tar) MYDOCKER_TOOLS_DIR=$(abspath bin/tools)

# Static helper programs the tests bind-mount into containers.
bin/tools/udpecho: e2e/testdata/udpecho/main.go
	CGO_ENABLED=0 go build -o $@ ./e2e/testdata/udpecho

bin/tools/sysprobe: e2e/testdata/sysprobe/main.go
	CGO_ENABLED=0 go build -o $@ ./e2e/testdata/sysprobe

# test runs every test, as root, on the real kernel: unit tests, then the
# end-to-end suite against the built binary, which ends with a leak check;
# then the cgroup tests again on a cgroup v2 kernel.
test: deps lint build busybox.tar bin/tools/udpecho bin/tools/sysprobe
	$(E2E_ENV) go test -p 1 -count=1 ./...
	@echo "e2e: the network tests again with the iptables firewall backend"
	$(E2E_ENV) MYDOCKER_FIREWALL=iptables go test -count=1 -run '$(NET_TESTS)' ./e2e
	$(MAKE) --no-print-directory test-cgroupv2

# test-cgroupv2 boots Debian's kernel with cgroup v2 only in a QEMU VM
# (hack/cgroupv2-vm.sh) and runs the cgroup tests, unit and end-to-end, there.
# The test binaries are built here: compiling under emulation is slow.
TEST_LINES := ^(---|PASS|FAIL|ok|e2e)|_test.go:
NET_TESTS := Network|Publish|Port|FromAnotherHost|Isolation|Forward|Bridge|UDP|Killed
V2_TESTS := Cgroup|RunEcho|ExitCodes|TestExec$$|TestStop$$|MonitorKilled|TestDevicePolicy|TestDefaultConfinement|TestSecurityOpt|TestUsernsRemap|TestPauseUnpause|TestStats
test-cgroupv2: deps-vm build busybox.tar bin/tools/udpecho bin/tools/sysprobe
	go test -c -o bin/cgroups.test ./cgroups
	go test -c -o bin/e2e.test ./e2e
	hack/cgroupv2-vm.sh $(CURDIR) bash -c 'set -eo pipefail; [ -e /sys/fs/cgroup/cgroup.controllers ]; \
		cd cgroups && ../bin/cgroups.test -test.count=1 -test.v | grep -E "$(TEST_LINES)"; \
		cd ../e2e && $(E2E_ENV) ../bin/e2e.test -test.count=1 -test.v -test.run "$(V2_TESTS)" | grep -E "$(TEST_LINES)"'

bench: deps build busybox.tar
	hack/bench.sh $(abspath $(BIN)) $(abspath busybox.tar)

# bench-scale: every per-container command with one container and with
# SCALE_N (1,000) more running, half of them publishing a port; their start,
# their removal and their monitors' memory. About two minutes and 4 GB.
SCALE_N ?= 1000
bench-scale: deps build busybox.tar
	go run ./hack/benchscale -mydocker $(abspath $(BIN)) -tar $(abspath busybox.tar) -n $(SCALE_N)

clean:
	rm -rf bin busybox.tar
