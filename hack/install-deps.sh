#!/usr/bin/env bash
# Installs the Debian packages the test tiers and the lab need, only when one is missing, so a fresh
# machine needs nothing installed by hand and a warm one pays nothing. Needs root (CI runs as root).
set -euo pipefail

pkgs=(nftables iproute2 iputils-ping arping tcpdump conntrack curl bird2 frr gobgpd busybox runc)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "deps: all ${#pkgs[@]} Debian packages present"
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "deps: missing Debian packages: ${missing[*]}; run as root or install them: apt-get install ${missing[*]}" >&2
  exit 1
fi
echo "deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# bird2, frr and gobgpd are daemons, and their package scripts start them (and enable them for the
# next boot) on a machine run by an init system. The tests and the lab start their own copies inside
# network namespaces; a copy in the machine's own namespace would be a BGP speaker nobody asked for.
# policy-rc.d answering 101 ("action forbidden") is Debian's way to keep package scripts from
# starting services (invoke-rc.d and deb-systemd-invoke both honour it); ours is removed again
# after the install, and one the machine already had is left alone.
policy=/usr/sbin/policy-rc.d
own_policy=
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 755 "$policy" && own_policy=1
fi
trap 'if [ -n "$own_policy" ]; then rm -f "$policy"; fi' EXIT
apt-get update -q
apt-get install -y -q --no-install-recommends "${missing[@]}"
# Enabled units would still start at the next boot.
if command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then
  for unit in bird frr gobgpd; do
    systemctl disable --now "$unit" >/dev/null 2>&1 || true
  done
fi
