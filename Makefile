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
RUN_PKGS  := iptables busybox-static
TEST_PKGS := gcc tmux curl runc crun hyperfine time iproute2 util-linux

.PHONY: all build deps demo test unit e2e bench lint clean

all: build

$(BIN): $(GOFILES)
	go build -ldflags "-X main.version=$(VERSION)" -o $@ .

build: $(BIN)

# deps installs whatever Debian packages are missing (apt-get update first,
# once, as a fresh machine needs).
deps:
	@[ "$$(id -u)" = 0 ] || { echo "make: run as root: containers need it" >&2; exit 1; }
	@command -v go >/dev/null || { echo "make: Go 1.26+ is required (not found at /usr/local/go/bin or on PATH)" >&2; exit 1; }
	@missing=""; for p in $(RUN_PKGS) $(TEST_PKGS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

busybox.tar: hack/mkbusybox.sh | deps
	hack/mkbusybox.sh $@

# demo ends inside a busybox shell in a fresh container.
demo: deps build busybox.tar
	$(BIN) import busybox.tar busybox >/dev/null
	$(BIN) run -it --rm busybox sh

lint: deps
	@fmt=$$(gofmt -l $$(git ls-files '*.go')); [ -z "$$fmt" ] || { echo "gofmt needed: $$fmt" >&2; exit 1; }
	go vet ./...

# test runs every test, as root, on the real kernel: unit tests, then the
# end-to-end suite against the built binary, which ends with a leak check.
test: deps lint build busybox.tar
	MYDOCKER_BIN=$(abspath $(BIN)) MYDOCKER_BUSYBOX_TAR=$(abspath busybox.tar) \
		go test -p 1 -count=1 ./...

bench: deps build busybox.tar
	hack/bench.sh $(abspath $(BIN)) $(abspath busybox.tar)

clean:
	rm -rf bin busybox.tar
