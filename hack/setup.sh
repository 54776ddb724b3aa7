#!/usr/bin/env bash
# Prepares the soft-RDMA test bed on a Debian machine (run as root the first time):
#   - installs the Debian packages the project and the guest need;
#   - resolves Debian's current kernel from linux-image-amd64, unpacks vmlinuz and the
#     modules the guest loads;
#   - builds siw.ko (Debian does not ship it) from linux-source against that kernel;
#   - packs a busybox initramfs that loads the modules and hands over to hack/guest.sh.
# Everything lands in $RDMA_CACHE (default .cache/ in the checkout). A second run with
# the cache in place downloads and builds nothing.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

KDIR=$TESTBED/kernel
mkdir -p "$TESTBED"
# Scratch folders, removed however the script ends.
scratch=()
trap 'rm -rf "${scratch[@]}"' EXIT
# scratch_dir NAME: a new scratch folder in $TESTBED; sets $tmp.
scratch_dir() {
	tmp=$(mktemp -d "$TESTBED/$1.XXXXXX")
	scratch+=("$tmp")
}
# apt's network and lock: retry a failed download, wait for another apt (a fresh
# machine's unattended upgrades) instead of failing. DPkg::Lock::Timeout covers dpkg's
# lock only: apt_retry waits for the others (the package lists', the archives').
APT_OPTS=(-o Acquire::Retries=5 -o DPkg::Lock::Timeout=600)

# apt_retry COMMAND...: runs an apt command, again every 5 s for up to 10 minutes
# while another apt holds one of its locks; its output goes to stderr when it fails.
apt_retry() {
	local out _
	for _ in {1..120}; do
		out=$("$@" 2>&1) && return 0
		case $out in
		*"Could not get lock"* | *"Unable to lock"* | *"Unable to acquire"*) sleep 5 ;;
		*) break ;;
		esac
	done
	printf '%s\n' "$out" >&2
	return 1
}

missing_packages() {
	local p
	for p in "$@"; do
		dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$' || echo "$p"
	done
}

apt_updated=
apt_update_once() {
	[ -n "$apt_updated" ] && return
	apt_retry apt-get "${APT_OPTS[@]}" update -qq || die "apt-get update failed"
	apt_updated=1
}

install_packages() {
	local need
	need=$(missing_packages "$@")
	[ -z "$need" ] && return
	[ "$(id -u)" = 0 ] || die "missing Debian packages (run as root to install): $(echo $need)"
	echo "setup: installing $(echo $need)"
	apt_update_once
	# shellcheck disable=SC2086
	apt_retry env DEBIAN_FRONTEND=noninteractive apt-get "${APT_OPTS[@]}" install -y -qq --no-install-recommends $need ||
		die "apt-get install failed for: $(echo $need)"
}

# The guest kernel's ABI (e.g. 6.1.0-56-amd64), resolved once from linux-image-amd64.
resolve_abi() {
	if [ -s "$TESTBED/abi" ]; then
		cat "$TESTBED/abi"
		return
	fi
	command -v apt-cache >/dev/null || die "apt-cache not found: this needs a Debian machine"
	apt_update_once
	local image
	image=$(apt-cache depends linux-image-amd64 2>/dev/null | sed -n 's/^ *Depends: linux-image-\([0-9].*\)$/\1/p' | head -n1)
	[ -n "$image" ] || die "cannot resolve Debian's kernel: 'apt-cache depends linux-image-amd64' names no linux-image-ABI"
	echo "$image" >"$TESTBED/abi"
	echo "$image"
}

fetch_deb() { # fetch_deb PACKAGE DIR → path of the .deb
	local pkg=$1 dir=$2 deb
	mkdir -p "$dir"
	deb=$(ls "$dir/${pkg}"_*.deb 2>/dev/null | head -n1 || true)
	if [ -z "$deb" ]; then
		apt_update_once
		echo "setup: downloading $pkg" >&2
		(cd "$dir" && apt-get "${APT_OPTS[@]}" download -qq "$pkg" 2>&1 | grep -v '^W: Download is performed unsandboxed' >&2 || true)
		deb=$(ls "$dir/${pkg}"_*.deb 2>/dev/null | head -n1 || true)
		[ -n "$deb" ] || die "cannot download Debian package $pkg"
	fi
	echo "$deb"
}

# Unpacks vmlinuz and the modules the guest needs (with siw.ko added), and writes
# $KDIR/insmod.list: module files in dependency order.
prepare_kernel() {
	local abi=$1
	[ -s "$KDIR/insmod.list" ] && [ -s "$KDIR/vmlinuz" ] && return
	local tmp deb src moddir
	scratch_dir unpack
	deb=$(fetch_deb "linux-image-$abi" "$tmp")
	echo "setup: unpacking $(basename "$deb")"
	dpkg-deb -x "$deb" "$tmp/root" || die "cannot unpack $deb"
	[ -f "$tmp/root/boot/vmlinuz-$abi" ] || die "$deb has no boot/vmlinuz-$abi"
	moddir=$tmp/root/lib/modules/$abi
	mkdir -p "$moddir/extra"
	cp "$TESTBED/siw/siw.ko" "$moddir/extra/siw.ko"
	depmod -b "$tmp/root" "$abi" || die "depmod failed for $abi"

	rm -rf "$KDIR"
	mkdir -p "$KDIR/modules"
	local m line path
	: >"$KDIR/insmod.list"
	for m in "${GUEST_MODULES[@]}"; do
		modprobe -d "$tmp/root" -S "$abi" --show-depends "$m" >"$tmp/deps" 2>&1 ||
			die "module $m not found for kernel $abi: $(head -n1 "$tmp/deps")"
		while read -r line; do
			case $line in
			insmod\ *)
				path=$(echo "$line" | awk '{print $2}')
				path=${path#"$tmp/root"}
				grep -qxF "$(basename "$path")" "$KDIR/insmod.list" && continue
				cp "$tmp/root$path" "$KDIR/modules/"
				basename "$path" >>"$KDIR/insmod.list"
				;;
			esac
		done <"$tmp/deps"
	done
	cp "$tmp/root/boot/vmlinuz-$abi" "$KDIR/vmlinuz"
}

# Builds siw.ko from Debian's linux-source for the same major.minor as the guest kernel.
build_siw() {
	local abi=$1
	[ -s "$TESTBED/siw/siw.ko" ] && return
	install_packages "linux-headers-$abi"
	local ver=${abi%%-*}   # 6.1.0
	local mm=${ver%.*}     # 6.1
	local hdr=/usr/src/linux-headers-$abi
	[ -f "$hdr/Makefile" ] || die "kernel headers missing: $hdr (package linux-headers-$abi)"
	local tmp deb
	scratch_dir siwsrc
	deb=$(fetch_deb "linux-source-$mm" "$TESTBED/debs")
	echo "setup: extracting siw sources from $(basename "$deb")"
	dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$tmp" "./usr/src/linux-source-$mm.tar.xz" ||
		die "no linux-source-$mm.tar.xz in $deb"
	tar -xJf "$tmp/usr/src/linux-source-$mm.tar.xz" -C "$tmp" "linux-source-$mm/drivers/infiniband/sw/siw" ||
		die "no drivers/infiniband/sw/siw in linux-source-$mm"
	local src=$tmp/linux-source-$mm/drivers/infiniband/sw/siw
	echo "setup: building siw.ko against $hdr"
	make -s -C "$hdr" M="$src" CONFIG_RDMA_SIW=m modules >"$tmp/build.log" 2>&1 ||
		{ tail -n 20 "$tmp/build.log" >&2; die "building siw.ko failed (log above)"; }
	mkdir -p "$TESTBED/siw"
	cp "$src/siw.ko" "$TESTBED/siw/siw.ko"
	rm -rf "$TESTBED/debs"
}

build_initramfs() {
	local out=$TESTBED/initrd.gz
	[ -s "$out" ] && [ "$out" -nt "$REPO/hack/initramfs-init" ] && [ "$out" -nt "$KDIR/insmod.list" ] && return
	local busybox=/bin/busybox
	file_is_static "$busybox" || die "$busybox is not the static busybox (package busybox-static)"
	local tmp
	scratch_dir initrd
	mkdir -p "$tmp"/{bin,dev,proc,sys,host,modules}
	cp "$busybox" "$tmp/bin/busybox"
	cp "$KDIR"/modules/*.ko "$tmp/modules/"
	cp "$KDIR/insmod.list" "$tmp/insmod.list"
	cp "$REPO/hack/initramfs-init" "$tmp/init"
	chmod 755 "$tmp/init"
	(cd "$tmp" && find . | cpio -o -H newc --quiet | gzip -1) >"$out.tmp"
	mv "$out.tmp" "$out"
}

file_is_static() {
	[ -x "$1" ] && ! ldd "$1" >/dev/null 2>&1
}

main() {
	local start=$SECONDS
	install_packages "${TESTBED_PACKAGES[@]}"
	local abi
	abi=$(resolve_abi)
	build_siw "$abi"
	prepare_kernel "$abi"
	build_initramfs
	echo "setup: test bed ready (kernel $abi, $((SECONDS - start)) s)"
}

main "$@"
