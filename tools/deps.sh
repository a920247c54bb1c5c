#!/usr/bin/env bash
# Installs the Debian packages qmsim builds and tests with (idempotent; needs root or sudo).
set -euo pipefail
PKGS=(build-essential cmake pkg-config git xz-utils
      libgtest-dev libgmock-dev libbenchmark-dev libcli11-dev nlohmann-json3-dev libutf8proc-dev
      libyaml-cpp-dev libspdlog-dev libsystemc-dev)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "deps: all Debian packages present"
  exit 0
fi
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
echo "deps: installing ${missing[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
