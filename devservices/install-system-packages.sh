#!/usr/bin/env bash
# Installs the Debian packages the development services need, when missing.
# Runs apt-get only as root; otherwise says what to install.
set -euo pipefail

declare -A needs=(
  [java]=openjdk-17-jre-headless
  [mvn]=maven
  [redis-server]=redis-server
  [chromium]=chromium            # browser tests and screenshots, driven headless by Playwright
)

missing=()
for program in "${!needs[@]}"; do
  command -v "$program" >/dev/null 2>&1 || missing+=("${needs[$program]}")
done
# The PostgreSQL server, for the test of production's database settings
# (tests/test_django_database.py); Debian keeps its programs off the PATH.
command -v initdb >/dev/null 2>&1 || compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || missing+=(postgresql)
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "missing programs; install with: sudo apt-get install ${missing[*]}" >&2
  exit 1
fi
echo "installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" fonts-dejavu-core >/dev/null
