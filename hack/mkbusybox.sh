#!/bin/sh
# mkbusybox.sh OUT.tar: a busybox root filesystem tarball (as `docker export`
# would write it) from Debian's busybox-static, so no registry is needed.
set -eu
out=${1:?usage: mkbusybox.sh OUT.tar}
bb=${BUSYBOX:-/bin/busybox}
[ -x "$bb" ] || { echo "mkbusybox: $bb missing (apt-get install busybox-static)" >&2; exit 1; }
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
mkdir -p "$dir/bin" "$dir/etc" "$dir/root" "$dir/tmp" "$dir/var/www" "$dir/home" "$dir/proc" "$dir/sys" "$dir/dev" "$dir/usr/bin" "$dir/usr/sbin" "$dir/sbin"
chmod 1777 "$dir/tmp"
chmod 700 "$dir/root"
cp "$bb" "$dir/bin/busybox"
for applet in $("$bb" --list); do
	[ "$applet" = busybox ] || ln -s busybox "$dir/bin/$applet"
done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n' > "$dir/etc/passwd"
printf 'root:x:0:\ntty:x:5:\nnogroup:x:65534:\n' > "$dir/etc/group"
echo '<h1>hello from mydocker</h1>' > "$dir/var/www/index.html"
tar --numeric-owner --owner=0 --group=0 --sort=name --mtime=@0 -C "$dir" -cf "$out.tmp" .
mv "$out.tmp" "$out"
