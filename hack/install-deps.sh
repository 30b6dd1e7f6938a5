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
apt-get update -q
apt-get install -y -q --no-install-recommends "${missing[@]}"
