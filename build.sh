#!/usr/bin/env bash
# build.sh — build, boot, test and benchmark armos.
#
#   ./build.sh            build the kernel ELF (out/kernel.elf) and the hosted tools
#   ./build.sh run        boot armos in qemu-system-aarch64 -M virt (serial console here;
#                         quit QEMU with Ctrl-A x). Extra words go to the kernel command
#                         line, e.g. ./build.sh run selftest; programs to run follow "--":
#                           ./build.sh run -- hello
#                           ./build.sh run --add path/to/prog -- prog arg1 arg2
#                         (--add puts any static linux/arm64 binary into the boot image
#                         as /bin/<its name>; several --add and "--" commands are fine)
#                         --conf FILE adds FILE's lines (services, apps) to what init
#                         starts: ./build.sh run --add out/toyd --conf toy.conf
#                         (docs/protocol-server.md's tutorial)
#                         With no command line it boots the system (virtionetd, netd,
#                         dhcpc, tcpd, echo, httpd...) and forwards host UDP port
#                         ARMOS_ECHO_PORT (5555) to the echo service and host TCP port
#                         ARMOS_HTTP_PORT (8080) to httpd's status page; --tap NAME
#                         attaches a host TAP device instead.
#   ./build.sh test       every host test, fuzz target (briefly) and guest test in QEMU
#   ./build.sh bench      benchmarks: Go benchmarks + boot figures, out/bench.txt
#
# Each command installs what it needs from Debian's packages (apt-get) when run as
# root; otherwise it prints the exact apt-get line to run. Build output goes to
# out/ (ARMOS_OUT overrides it). For run: ARMOS_MEM sets -m (default 512M),
# ARMOS_QEMU_ARGS adds QEMU words (e.g. "-icount shift=0" to count instructions).
set -euo pipefail
cd "$(dirname "$0")"
ROOT=$(pwd)
OUT=${ARMOS_OUT:-$ROOT/out}
export CGO_ENABLED=0

# Debian packages each command needs, and a command that proves each is there.
RUN_PKGS="qemu-system-arm"
TEST_PKGS="qemu-system-arm qemu-user-static device-tree-compiler iproute2 iputils-ping iputils-arping socat gdb-multiarch tshark dnsmasq-base curl gcc"
DEBUG_PKGS="qemu-system-arm gdb-multiarch"

need_cmd_for_pkg() {
	case "$1" in
	qemu-system-arm) echo qemu-system-aarch64 ;;
	qemu-user-static) echo qemu-aarch64-static ;;
	device-tree-compiler) echo dtc ;;
	iproute2) echo ip ;;
	iputils-ping) echo ping ;;
	iputils-arping) echo arping ;;
	dnsmasq-base) echo dnsmasq ;;
	*) echo "$1" ;;
	esac
}

# ensure_pkgs PKG... installs the Debian packages whose commands are missing.
ensure_pkgs() {
	local missing=()
	for p in "$@"; do
		command -v "$(need_cmd_for_pkg "$p")" >/dev/null 2>&1 || missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	if [ "$(id -u)" -ne 0 ]; then
		echo "build.sh: missing packages: ${missing[*]}" >&2
		echo "build.sh: run as root, or install them first with:" >&2
		echo "    sudo apt-get update && sudo apt-get install -y --no-install-recommends ${missing[*]}" >&2
		exit 1
	fi
	echo "build.sh: installing ${missing[*]} (apt-get)" >&2
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq >&2
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
}

ensure_go() {
	if ! command -v go >/dev/null 2>&1; then
		echo "build.sh: the Go toolchain (1.26) is required: install it and put 'go' on PATH" >&2
		exit 1
	fi
}

# build_kernel builds the kernel ELF with the stock toolchain as a linux/arm64 binary
# linked in the kernel's linear map, loaded at 0x40201000 so QEMU places the DTB at
# 0x40000000 (see docs/boot.md; microkernel/internal/kbuild does both steps).
build_kernel() {
	mkdir -p "$OUT"
	go run ./microkernel/cmd/mkkernel -o "$OUT/kernel.elf"
}

# The programs every boot image carries, as /bin/<name>: the armos apps that run
# today and the test programs (microkernel/guesttest/progs).
IMAGE_PROGS="apps/hello microkernel/guesttest/progs/gort microkernel/guesttest/progs/exitcode
	microkernel/guesttest/progs/spawn microkernel/guesttest/progs/pingpong
	microkernel/guesttest/progs/badptr microkernel/guesttest/progs/memhog
	microkernel/guesttest/progs/threadbomb microkernel/guesttest/progs/sysfuzz
	microkernel/guesttest/progs/regs microkernel/guesttest/progs/devtest
	microkernel/guesttest/progs/runlist microkernel/guesttest/progs/ipctest
	microkernel/guesttest/progs/nettest microkernel/guesttest/progs/conwrite servers/init servers/netd servers/virtionetd servers/virtioconsd servers/dhcpc apps/echo apps/ping apps/ps apps/sh servers/resolved apps/nslookup servers/tcpd apps/httpd apps/httpget"

# Files whose lines build_image adds to each of init's configurations
# (run --conf FILE).
CONF_ADD=()

# build_image EXTRA... builds the programs and packs them, plus EXTRA
# (path-in-image=host-file words), into out/armos.img, the boot image QEMU hands
# the kernel through fw_cfg. init's configurations are servers/init's files
# followed by the lines of the CONF_ADD files.
build_image() {
	mkdir -p "$OUT/bin" "$OUT/etc"
	local items=() p conf
	for p in $IMAGE_PROGS; do
		GOOS=linux GOARCH=arm64 go build -trimpath -o "$OUT/bin/$(basename "$p")" "./$p"
		items+=("/bin/$(basename "$p")=$OUT/bin/$(basename "$p")")
	done
	for conf in init.conf:init.conf init-tap.conf:tap.conf init-static.conf:static.conf init-peer.conf:peer.conf; do
		cat "servers/init/${conf#*:}" ${CONF_ADD[@]+"${CONF_ADD[@]}"} >"$OUT/etc/${conf%%:*}"
		items+=("/etc/${conf%%:*}=$OUT/etc/${conf%%:*}")
	done
	go run ./microkernel/cmd/mkimage -o "$OUT/armos.img" "${items[@]}" \
		/etc/resolv.conf=servers/resolved/etc/resolv.conf \
		/etc/hosts=servers/resolved/etc/hosts /etc/nsswitch.conf=servers/resolved/etc/nsswitch.conf "$@"
}

build_host() {
	mkdir -p "$OUT"
	go build -o "$OUT/netd" ./servers/netd
}

cmd_build() {
	ensure_go
	build_kernel
	build_image
	build_host
	echo "build.sh: built $OUT/kernel.elf, $OUT/armos.img and $OUT/netd"
}

cmd_run() {
	ensure_go
	ensure_pkgs $RUN_PKGS
	boot "$@"
}

# cmd_debug is cmd_run with QEMU halted at its first instruction and its
# gdbstub listening (docs/debugging.md): it prints the gdb-multiarch line to
# attach with, then boots when gdb says continue.
cmd_debug() {
	ensure_go
	ensure_pkgs $DEBUG_PKGS
	local port=${ARMOS_GDB_PORT:-1234}
	DEBUG_QEMU_ARGS="-S -gdb tcp:127.0.0.1:$port"
	DEBUG_HINT="build.sh: QEMU is halted, its gdbstub on 127.0.0.1:$port; attach from another terminal with:
    gdb-multiarch -q -ex 'set architecture aarch64' -ex 'file $OUT/kernel.elf' -ex 'set substitute-path armos $PWD' -ex 'target remote 127.0.0.1:$port'
then e.g. 'hbreak armos/microkernel/internal/rt.syscall' and 'continue'; a program's symbols: 'add-symbol-file $OUT/bin/NAME' (docs/debugging.md)"
	boot "$@"
}

# boot ARGS builds the kernel and the image and boots them (run, debug).
# With no kernel command line it boots the system: init starts virtionetd,
# netd and echo (servers/init/init.conf) on QEMU user networking, with a host
# UDP port forwarded to the echo service; --tap NAME attaches the host's TAP
# device NAME instead (servers/init/tap.conf: armos 10.99.0.2/24, the host
# 10.99.0.1/24; made and configured here when root and missing).
boot() {
	local words=() extra=() tap=""
	while [ $# -gt 0 ]; do
		case "$1" in
		--add)
			[ $# -ge 2 ] || { echo "build.sh: --add needs a file" >&2; exit 2; }
			[ -f "$2" ] || { echo "build.sh: --add $2: no such file" >&2; exit 2; }
			extra+=("/bin/$(basename "$2")=$(cd "$(dirname "$2")" && pwd)/$(basename "$2")")
			shift 2
			;;
		--conf)
			[ $# -ge 2 ] || { echo "build.sh: --conf needs a file" >&2; exit 2; }
			[ -f "$2" ] || { echo "build.sh: --conf $2: no such file" >&2; exit 2; }
			CONF_ADD+=("$(cd "$(dirname "$2")" && pwd)/$(basename "$2")")
			shift 2
			;;
		--tap)
			[ $# -ge 2 ] || { echo "build.sh: --tap needs a TAP device name" >&2; exit 2; }
			tap=$2
			shift 2
			;;
		*)
			words+=("$1")
			shift
			;;
		esac
	done
	build_kernel
	build_image "${extra[@]}"
	local port=${ARMOS_ECHO_PORT:-5555}
	local hport=${ARMOS_HTTP_PORT:-8080}
	local netdev="user,id=n0,hostfwd=udp:127.0.0.1:$port-:7,hostfwd=tcp:127.0.0.1:$hport-:80"
	if [ -n "$tap" ]; then
		setup_tap "$tap"
		netdev="tap,id=n0,ifname=$tap,script=no,downscript=no"
	fi
	if [ ${#words[@]} -eq 0 ]; then
		# The system as it runs: init starts what its configuration names
		# and keeps it running.
		if [ -n "$tap" ]; then
			words=(-- init -conf /etc/init-tap.conf)
			echo "build.sh: booting armos on $tap: init starts virtionetd, netd (10.99.0.2/24) and the echo app (servers/init/tap.conf)" >&2
			echo "build.sh: from this host: ping 10.99.0.2, arping -I $tap 10.99.0.2, socat - UDP:10.99.0.2:7 (once 'echo: ready' shows), curl http://10.99.0.2/ (once 'httpd: listening' shows); quit QEMU with Ctrl-A x" >&2
		else
			words=(-- init)
			echo "build.sh: booting armos: init starts virtionetd, netd (configured by dhcpc from QEMU user networking's DHCP: 10.0.2.15/24) and the echo app (servers/init/init.conf)" >&2
			echo "build.sh: reach the echo service from this host with: socat - UDP:127.0.0.1:$port (once 'echo: ready' shows), and the status page with: curl http://127.0.0.1:$hport/ (once 'httpd: listening' shows); quit QEMU with Ctrl-A x" >&2
		fi
	fi
	# The virtio console port hvc0 (virtioconsd) is written to a host file:
	# netd's packet captures (the shell's pcap command) land there.
	local pcap=${ARMOS_PCAP:-$OUT/capture.pcap}
	echo "build.sh: packet captures ('pcap start [FILTER]' in the shell) go to $pcap: tshark -r $pcap" >&2
	[ -n "${DEBUG_HINT:-}" ] && echo "$DEBUG_HINT" >&2
	# shellcheck disable=SC2086 # ARMOS_QEMU_ARGS is words on purpose
	exec qemu-system-aarch64 -M virt -cpu cortex-a72 -m "${ARMOS_MEM:-512M}" -nographic ${ARMOS_QEMU_ARGS:-} ${DEBUG_QEMU_ARGS:-} \
		-netdev "$netdev" -device virtio-net-device,netdev=n0 \
		-device virtio-serial-device -chardev "file,id=hvc0,path=$pcap" -device virtconsole,chardev=hvc0 \
		-fw_cfg name=opt/armos/image,file="$OUT/armos.img" \
		-kernel "$OUT/kernel.elf" -append "${words[*]:-}"
}

# setup_tap NAME makes the TAP device NAME with the host's address
# 10.99.0.1/24 when it does not exist (root only), and brings it up.
setup_tap() {
	if ip link show "$1" >/dev/null 2>&1; then
		return 0
	fi
	if [ "$(id -u)" -ne 0 ]; then
		echo "build.sh: no TAP device $1; as root, make it with:" >&2
		echo "    sudo ip tuntap add dev $1 mode tap user $(id -un) && sudo ip addr add 10.99.0.1/24 dev $1 && sudo ip link set $1 up" >&2
		exit 1
	fi
	ip tuntap add dev "$1" mode tap
	ip addr add 10.99.0.1/24 dev "$1"
	ip link set "$1" up
}

# fuzz_all runs every Fuzz target briefly: FUZZTIME executions each (default
# 10000x). A count, not a duration: go1.26's fuzz coordinator can fail a
# duration run with a spurious "context deadline exceeded" at its end under CPU
# load (golang/go#75804, fixed in go1.27). -timeout bounds a slow target.
fuzz_all() {
	local fuzztime=${FUZZTIME:-10000x}
	local pkg targets t
	for pkg in $(go list ./...); do
		targets=$(go test -list '^Fuzz' "$pkg" 2>/dev/null | grep '^Fuzz' || true)
		for t in $targets; do
			echo "build.sh: fuzz $pkg $t ($fuzztime)"
			go test -run='^$' -fuzz="^${t}\$" -fuzztime="$fuzztime" -fuzzminimizetime=0s -timeout=5m "$pkg" >"$OUT/fuzz.log" 2>&1 ||
				{ cat "$OUT/fuzz.log"; echo "build.sh: fuzz target $t in $pkg failed" >&2; exit 1; }
		done
	done
}

cmd_test() {
	ensure_go
	ensure_pkgs $TEST_PKGS
	mkdir -p "$OUT"
	echo "build.sh: go vet (host and linux/arm64)"
	go vet ./...
	GOOS=linux GOARCH=arm64 go vet ./...
	build_kernel
	fuzz_all
	echo "build.sh: go test ./... (host tests, hosted integration, real peers, guest tests in QEMU)"
	go test -count=1 -timeout 30m ./...
}

# cmd_bench runs every Go benchmark, then the boot benchmarks: armos and a
# Linux guest (Debian's arm64 cloud kernel, fetched with apt-get into
# out/linuxref) in the same QEMU, alternating, in the same run, then the
# process benchmarks (progs/sysbench on both, out/procbench/table.txt), then
# the network (BenchmarkNetwork and BenchmarkNetworkProfile: out/netbench),
# then DHCP and DNS (BenchmarkDHCPDNS: dhcpc's time to an address, lookups
# through resolved beside Linux's; its chart "dns" drawn by benchcharts),
# then TCP in both guests (BenchmarkTCPGuest: out/netbench/tcp.txt; and
# BenchmarkTCPGuestInsnProfile: every guest instruction counted by the
# insnprof QEMU plugin, by process and function, out/netbench/tcp-insnprof.txt).
# Results go to out/bench.txt.
cmd_bench() {
	ensure_go
	ensure_pkgs $TEST_PKGS
	mkdir -p "$OUT"
	build_kernel
	if [ "$(id -u)" -ne 0 ] && [ ! -d "$OUT/linuxref" ]; then
		echo "build.sh: the Linux reference guest is fetched with apt-get: run as root once" >&2
		exit 1
	fi
	go run ./microkernel/guesttest/linuxref/cmd/fetch -dir "$OUT/linuxref"
	export LINUXREF_DIR=$OUT/linuxref
	local host_pkgs
	host_pkgs=$(go list ./... | grep -v '/guesttest')
	{
		go test -run='^$' -bench=. -benchmem -count=1 -timeout 30m $host_pkgs
		# -p 1: armos's and Linux's boots must not share the 2 cores.
		go test -p 1 -run='^$' -bench='Boot512M|Boot128M' -benchtime=5x -count=1 -timeout 30m \
			./microkernel/guesttest ./microkernel/guesttest/linuxref
		go test -run='^$' -bench='MinMemory|EchoReady' -benchtime=1x -count=1 -timeout 30m \
			./microkernel/guesttest ./microkernel/guesttest/linuxref
		go test -run='^$' -bench='Processes' -benchtime=1x -count=1 -timeout 60m \
			./microkernel/guesttest
		go test -run='^$' -bench='UDPEchoRTT' -benchtime=2000x -count=1 -timeout 30m \
			./microkernel/guesttest/linuxref
		ARMOS_BENCH_OUT=$OUT/bench go test -run='^$' -bench='Network' -benchtime=3x -count=1 -timeout 30m \
			./microkernel/guesttest
		# DHCP and DNS (issue 11): armos's dhcpc and resolved, Linux's
		# lookups, dnsmasq on the tap; 5 boots of each, alternating.
		go test -run='^$' -bench='DHCPDNS' -benchtime=5x -count=1 -timeout 30m \
			./microkernel/guesttest
		# TCP beside Linux: apps/httpd in both guests, driven from the
		# host (download MB/s, transactions/s: out/netbench/tcp.txt), and
		# BenchmarkTCPGuestInsnProfile: both guests' instructions per KiB
		# downloaded and per request, armos's by process and function
		# (out/netbench/tcp-insnprof.txt, tcp-insnprof-full.txt).
		go test -run='^$' -bench='TCPGuest' -benchtime=5x -count=1 -timeout 40m \
			./microkernel/guesttest
		# The long restart soak: netd and virtionetd killed ARMOS_SOAK_N
		# times each (1000 by default, about 20 minutes each), then
		# ARMOS_SOAK_ICOUNT_N times each under -icount (200 by default,
		# about 8 minutes each: the guest-time figures).
		go test -run='^$' -bench='RestartSoak' -benchtime=1x -count=1 -timeout 150m \
			./microkernel/guesttest
	} 2>&1 | tee "$OUT/bench.txt"
	# The charts drawn from the output (boot: armos and Linux measured by
	# separate benchmarks; dns); network and restart are written by theirs.
	go run ./internal/benchchart/cmd/benchcharts -in "$OUT/bench.txt" -out "$OUT/bench"
	echo "build.sh: charts, their JSON and bench.txt in $OUT/bench (copy all of it to docs/bench for the README: TestChartsMatchSpecs redraws the charts from bench.txt)"
	echo "build.sh: the network beside Linux in $OUT/netbench/table.txt, armos's instructions per echo in $OUT/netbench/profile.txt"
	echo "build.sh: TCP beside Linux in the guest in $OUT/netbench/tcp.txt, both guests' instructions per KiB and per request, by process and function, in $OUT/netbench/tcp-insnprof.txt"
}

case "${1:-build}" in
build) cmd_build ;;
run) shift; cmd_run "$@" ;;
debug) shift; cmd_debug "$@" ;;
test) cmd_test ;;
bench) cmd_bench ;;
*)
	echo "usage: ./build.sh [build|run [kernel args...]|debug [kernel args...]|test|bench]" >&2
	exit 2
	;;
esac
