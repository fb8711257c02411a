#!/usr/bin/env bash
# device_check_dryrun.sh: run bench/device_check.sh the way the GPU machine
# would, on this machine: in a fresh copy of the committed tree plus the
# carried .devdeps (the .deb files, and stories260K through the assets link),
# in a private mount namespace where this machine's own -dev packages and
# pkg-config are hidden, so the build can only use what the script brings.
# Without a GPU it must get through the build and stop, exit status 3, at
# the first step that needs one.
#
#   bench/device_check_dryrun.sh        (as root: it uses unshare -m)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
[ -d "$root/.devdeps/debs" ] || { echo "run bench/device_check.sh --prepare first" >&2; exit 2; }
work=$(mktemp -d /tmp/rb-device-dryrun.XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/tree/.devdeps/assets"
git -C "$root" archive HEAD | tar -x -C "$work/tree"
cp -r "$root/.devdeps/debs" "$work/tree/.devdeps/"
cp -r "$root/.devdeps/assets/stories260K" "$work/tree/.devdeps/assets/" 2>/dev/null || true

# what to hide: headers, .pc files, link-time libraries of the -dev
# packages, and pkg-config itself
hide_dirs=(/usr/lib/x86_64-linux-gnu/pkgconfig /usr/share/pkgconfig /usr/include/cjson /usr/include/lua5.4
  /usr/include/ncursesw /usr/include/x86_64-linux-gnu/openblas-openmp /usr/include/x86_64-linux-gnu/openblas-pthread
  /usr/lib/x86_64-linux-gnu/openblas-openmp /usr/lib/x86_64-linux-gnu/openblas-pthread)
hide_files=(/usr/bin/pkg-config /usr/bin/pkgconf /usr/include/check.h /usr/include/curses.h /usr/include/ncurses.h
  /usr/include/x86_64-linux-gnu/cblas.h /usr/lib/x86_64-linux-gnu/libcjson.so /usr/lib/x86_64-linux-gnu/liblua5.4.so
  /usr/lib/x86_64-linux-gnu/libcheck.a /usr/lib/x86_64-linux-gnu/libcheck_pic.a /usr/lib/x86_64-linux-gnu/libopenblas.so
  /usr/lib/x86_64-linux-gnu/libopenblas.so.0 /usr/lib/x86_64-linux-gnu/libcjson.so.1 /usr/lib/x86_64-linux-gnu/liblua5.4.so.0)
cat >"$work/inner.sh" <<EOF
set -u
mount --make-rprivate / 2>/dev/null || true
for d in ${hide_dirs[*]}; do [ -e "\$d" ] && mount -t tmpfs none "\$d"; done
touch "$work/empty"
for f in ${hide_files[*]}; do [ -e "\$f" ] && mount --bind "$work/empty" "\$f"; done
echo "hidden: \$(for d in ${hide_dirs[*]} ${hide_files[*]}; do [ -e "\$d" ] && printf '%s ' "\$d"; done)" >&2
pkg-config --version >/dev/null 2>&1 && { echo "pkg-config still visible" >&2; exit 9; }
cd "$work/tree" && bash bench/device_check.sh
EOF
set +e
unshare -m bash "$work/inner.sh"
rc=$?
echo "device_check.sh exit status: $rc (3 = stopped at the first step that needs a GPU)"
mkdir -p "$root/build-device" && cp "$work/tree/build-device/device_check.log" "$root/build-device/dryrun.log" 2>/dev/null && echo "log: $root/build-device/dryrun.log"
exit $rc
