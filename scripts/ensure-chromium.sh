#!/usr/bin/env bash
# The browser tests drive Debian's Chromium through Playwright; nothing is downloaded at test
# time. Install it (with fonts) from Debian's packages when it is absent.
set -euo pipefail

if [ -x /usr/bin/chromium ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ] && ! command -v sudo >/dev/null 2>&1; then
  echo "Chromium is absent and cannot be installed without root: the browser tests will skip." >&2
  exit 0
fi
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
echo "Installing Debian's Chromium and fonts for the browser tests"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq chromium fonts-liberation fonts-dejavu-core >/dev/null
