#!/bin/bash
# cgroupv2-vm.sh DIR CMD [ARG...]
#
# Runs CMD as root, in DIR, inside a throw-away QEMU VM that boots Debian's
# kernel with cgroup v2 only (cgroup_no_v1=all), so that mydocker's cgroup v2
# code is tested on a real v2 kernel from a v1 host. DIR is shared at the
# same path (9p); the host's /usr is shared read-only as the VM's userland
# and /etc is copied in. The VM has no network device at all. Exits with
# CMD's status (125 if the VM died without reporting one).
#
# Needs: qemu-system-x86, linux-image-amd64, busybox-static, cpio, kmod
# (`make test-cgroupv2` installs them). Software emulation (TCG) is used:
# nested KVM does not boot Debian's kernel on every host.
set -euo pipefail
die() { echo "cgroupv2-vm: $*" >&2; exit 125; }
[ $# -ge 2 ] || die "usage: cgroupv2-vm.sh DIR CMD [ARG...]"
DIR=$(realpath -e "$1") || die "no such directory: $1"
shift

K=$(for f in /boot/vmlinuz-*; do k=${f#/boot/vmlinuz-}; [ -d "/lib/modules/$k/kernel" ] && echo "$k"; done | sort -V | tail -1)
[ -n "$K" ] || die "no kernel with modules in /boot (apt-get install linux-image-amd64)"
CACHE=${VM_CACHE:-/var/tmp/mydocker-vm}
mkdir -p "$CACHE"

# An uncompressed kernel boots seconds faster under emulation.
KERNEL=$CACHE/vmlinux-$K
if [ ! -s "$KERNEL" ]; then
	off=$(LC_ALL=C grep -aobUP '\xFD7zXZ\x00' "/boot/vmlinuz-$K" | head -1 | cut -d: -f1 || true)
	if [ -n "$off" ] && tail -c +$((off + 1)) "/boot/vmlinuz-$K" | xz -dc --single-stream > "$KERNEL.tmp" 2>/dev/null ||
		[ "$(head -c4 "$KERNEL.tmp" 2>/dev/null | od -An -tx1 | tr -d ' ')" = 7f454c46 ]; then
		mv "$KERNEL.tmp" "$KERNEL"
	else
		rm -f "$KERNEL.tmp"
		KERNEL=/boot/vmlinuz-$K
	fi
fi

# Stage 1 runs from the initramfs: load virtio and 9p, build a tmpfs root
# from the host's /usr and /etc, switch_root into it (pivot_root, which
# containers need, fails on an initramfs root).
read -r -d '' STAGE1 <<'INIT' || true
#!/bin/sh
export PATH=/bin
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
for m in virtio_pci 9pnet_virtio 9p; do modprobe $m; done
O=trans=virtio,version=9p2000.L,msize=262144
mkdir /newroot && mount -t tmpfs -o mode=755 root /newroot
mkdir /newroot/ctl && mount -t 9p -o $O ctl /newroot/ctl
SHARE=$(cat /newroot/ctl/share)
cd /newroot && mkdir -p usr etc .etc proc sys dev tmp run root var/tmp var/lib "./$SHARE"
for l in bin sbin lib lib64; do ln -s usr/$l $l; done
ln -s ../run var/run
mount -t 9p -o $O,ro,cache=loose hostusr usr
mount -t 9p -o $O,ro hostetc .etc && cp -a .etc/. etc/ 2>/dev/null; umount .etc; rmdir .etc
mount -t 9p -o $O share "./$SHARE"
exec switch_root /newroot /usr/bin/busybox sh /ctl/stage2
INIT

read -r -d '' STAGE2 <<'INIT' || true
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
mkdir -p /dev/pts /dev/shm && mount -t devpts -o newinstance,ptmxmode=0666 devpts /dev/pts
mount -t tmpfs shm /dev/shm; chmod 1777 /tmp # /tmp and /run are on the tmpfs root: the share may live there
mount -t cgroup2 cgroup2 /sys/fs/cgroup
for c in $(cat /sys/fs/cgroup/cgroup.controllers); do echo "+$c" > /sys/fs/cgroup/cgroup.subtree_control; done
for m in overlay loop veth bridge br_netfilter nf_tables nft_compat nft_chain_nat nft_masq xt_MASQUERADE xt_conntrack xt_addrtype xt_comment xt_nat; do modprobe $m 2>/dev/null; done
ip link set lo up; hostname cgroupv2-vm
echo "cgroupv2-vm: kernel $(uname -r), controllers: $(cat /sys/fs/cgroup/cgroup.controllers)"
cd "$(cat /ctl/share)" && env -i HOME=/root PATH=$PATH TERM=dumb sh /ctl/cmd </dev/null
echo $? > /ctl/rc
sync
poweroff -f
INIT

INITRD=$CACHE/initramfs-$K-$(printf '%s' "$STAGE1" | md5sum | cut -c1-8).cpio.gz
if [ ! -s "$INITRD" ]; then
	W=$(mktemp -d)
	mkdir -p "$W"/{bin,proc,sys,dev,lib/modules/$K}
	cp /bin/busybox "$W/bin/"
	for a in $(/bin/busybox --list); do [ -e "$W/bin/$a" ] || ln -s busybox "$W/bin/$a"; done
	for m in virtio_pci 9pnet_virtio 9p; do modprobe -S "$K" --show-depends "$m"; done |
		awk '$1 == "insmod" {print $2}' | sort -u | while read -r f; do
			rel=${f#/lib/modules/$K/}; rel=${rel#/usr/lib/modules/$K/}
			mkdir -p "$W/lib/modules/$K/$(dirname "$rel")"; cp "$f" "$W/lib/modules/$K/$rel"
		done
	cp /lib/modules/"$K"/modules.{order,builtin,builtin.modinfo} "$W/lib/modules/$K/" 2>/dev/null || true
	depmod -b "$W" "$K"
	printf '%s\n' "$STAGE1" > "$W/init" && chmod 755 "$W/init"
	(cd "$W" && find . | cpio -o -H newc --quiet | gzip -1) > "$INITRD.tmp" && mv "$INITRD.tmp" "$INITRD"
	rm -rf "$W"
fi

CTL=$(mktemp -d /tmp/cgroupv2-vm.XXXXXX)
trap 'rm -rf "$CTL"' EXIT
printf '%s' "$DIR" > "$CTL/share"
printf '%s\n' "$STAGE2" > "$CTL/stage2"
{ printf 'exec'; printf ' %q' "$@"; echo; } > "$CTL/cmd"

set +e
timeout -k 10 "${VM_TIMEOUT:-1200}" qemu-system-x86_64 -accel tcg,thread=multi,tb-size=512 -cpu max \
	-m "${VM_MEM:-2048}" -smp "${VM_CPUS:-2}" \
	-nodefaults -no-user-config -display none -monitor none -serial stdio -nic none -no-reboot \
	-kernel "$KERNEL" -initrd "$INITRD" -append "console=ttyS0 quiet loglevel=1 panic=-1 cgroup_no_v1=all" \
	-virtfs "local,path=$CTL,mount_tag=ctl,security_model=passthrough" \
	-virtfs "local,path=$DIR,mount_tag=share,security_model=passthrough,multidevs=remap" \
	-virtfs "local,path=/usr,mount_tag=hostusr,security_model=passthrough,readonly=on,multidevs=remap" \
	-virtfs "local,path=/etc,mount_tag=hostetc,security_model=passthrough,readonly=on,multidevs=remap" </dev/null
qrc=$?
set -e
if [ -s "$CTL/rc" ]; then exit "$(cat "$CTL/rc")"; fi
die "the VM exited (qemu status $qrc) without reporting a status"
