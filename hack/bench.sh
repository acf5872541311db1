#!/bin/sh
# bench.sh MYDOCKER BUSYBOX_TAR: the performance numbers README.md reports.
set -eu
bin=${1:?usage: bench.sh MYDOCKER BUSYBOX_TAR}
tar=${2:?usage: bench.sh MYDOCKER BUSYBOX_TAR}
cd "$(dirname "$0")/.."
echo "## container start: mydocker vs runc vs crun"
go build -o bin/bench ./hack/bench
# crun refuses a "hybrid" host (cgroup v1 hierarchies plus a v2 mount holding
# controllers, as here). All three runtimes run in a private mount namespace
# without that v2 mount, so they see the same, pure v1, host.
if [ -e /sys/fs/cgroup/unified/cgroup.controllers ]; then
	unshare -m --propagation private sh -c 'umount /sys/fs/cgroup/unified && exec "$@"' sh \
		bin/bench -mydocker "$bin" -tar "$tar" -n "${BENCH_ROUNDS:-100}"
else
	bin/bench -mydocker "$bin" -tar "$tar" -n "${BENCH_ROUNDS:-100}"
fi
echo
echo "## Go benchmarks"
go test -run '^$' -bench . -benchtime 2000x ./network/ | grep -E '^Benchmark'
echo
echo "## image pull from a registry on loopback: mydocker vs skopeo vs crane"
[ -x bin/tools/crane ] || GOBIN="$PWD/bin/tools" go install github.com/google/go-containerregistry/cmd/crane@v0.22.1
go build -o bin/benchpull ./hack/benchpull
bin/benchpull -mydocker "$bin" -crane bin/tools/crane -n "${BENCH_PULL_ROUNDS:-5}"
