#!/usr/bin/env bash
# make deb: build/lodestar_<version>_<arch>.deb with dpkg-deb — the binary in /usr/bin,
# the man page, lodestar.service, and postinst/prerm (the lodestar user, /var/lib/lodestar).
# Depends: the Debian package of each shared library the binary needs (its ELF NEEDED
# entries, looked up with dpkg -S), so the package installs what the build linked against.
set -euo pipefail
cd "$(dirname "$0")/.."
version=$(build/lodestar version | awk '{print $2}')
arch=$(dpkg --print-architecture)
root=build/deb/root
rm -rf build/deb
make --no-print-directory install DESTDIR="$PWD/$root" PREFIX=/usr >/dev/null
deps=()
# Each library's path as the loader resolves it (ldd). No awk here stops reading early: under
# pipefail a producer killed by SIGPIPE would end the script with no message (ldconfig -p
# writes more than a pipe holds on a machine with many libraries).
resolved=$(ldd build/lodestar)
for lib in $(objdump -p build/lodestar | awk '/NEEDED/ {print $2}'); do
  path=$(awk -v l="$lib" '$1 == l && $3 ~ /^\// {p = $3} END {print p}' <<<"$resolved")
  [ -n "$path" ] || { echo "deb: ldd cannot resolve $lib" >&2; exit 1; }
  real=$(readlink -f "$path")
  # Debian 12 is /usr-merged: dpkg may record /lib/... or /usr/lib/... for the same file.
  pkg=""
  for p in "$path" "$real" "${path#/usr}" "/usr${path#/usr}" "${real#/usr}" "/usr${real#/usr}"; do
    pkg=$(dpkg -S "$p" 2>/dev/null | head -n1 || true)
    [ -n "$pkg" ] && break
  done
  pkg=${pkg%%:*}
  [ -n "$pkg" ] || { echo "deb: no package owns $lib ($path)" >&2; exit 1; }
  deps+=("$pkg")
done
depends=$(printf '%s\n' "${deps[@]}" | sort -u | paste -sd, - | sed 's/,/, /g')
mkdir -p "$root/DEBIAN"
size=$(du -sk "$root" | cut -f1)
cat > "$root/DEBIAN/control" <<CONTROL
Package: lodestar
Version: $version
Architecture: $arch
Maintainer: Lodestar <lodestar@localhost>
Installed-Size: $size
Depends: $depends, adduser
Section: database
Priority: optional
Description: streaming ingestion into tables queryable with Druid SQL
 Lodestar takes event streams (Kafka, Confluent Cloud, MSK, HTTP push) into
 tables and answers Druid SQL over them within a second, serving the Imply
 Polaris REST API and Druid's SQL endpoint from one process.
CONTROL
install -m 0755 packaging/postinst packaging/prerm "$root/DEBIAN/"
out="build/lodestar_${version}_${arch}.deb"
dpkg-deb --root-owner-group --build "$root" "$out" >/dev/null
echo "$out"
