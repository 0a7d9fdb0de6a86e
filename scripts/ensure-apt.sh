#!/usr/bin/env bash
# Usage: scripts/ensure-apt.sh [--optional] BINARY:DEBIAN_PACKAGE ...
# Installs each Debian package whose binary is missing, through apt-get when that is
# usable (root, or passwordless sudo). Otherwise prints what to install and exits 1
# (or only warns with --optional).
set -u
optional=0
if [ "${1:-}" = "--optional" ]; then optional=1; shift; fi
missing=()
for spec in "$@"; do
  bin=${spec%%:*}; pkg=${spec#*:}
  command -v "$bin" >/dev/null 2>&1 || missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0

sudo=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then sudo="sudo -n"; else sudo="none"; fi
fi
if command -v apt-get >/dev/null 2>&1 && [ "$sudo" != "none" ]; then
  echo "evalkit: installing ${missing[*]} with apt-get" >&2
  export DEBIAN_FRONTEND=noninteractive
  if $sudo apt-get install -y -q "${missing[@]}" >/dev/null 2>&1 || \
     { $sudo apt-get update -q >/dev/null 2>&1 && $sudo apt-get install -y -q "${missing[@]}" >/dev/null 2>&1; }; then
    exit 0
  fi
  echo "evalkit: apt-get could not install ${missing[*]}" >&2
fi
msg="evalkit: missing system package(s): ${missing[*]}. Install them, e.g. 'sudo apt-get install -y ${missing[*]}'"
if [ $optional -eq 1 ]; then echo "$msg (tests that need them are skipped)" >&2; exit 0; fi
echo "$msg" >&2
exit 1
