#!/usr/bin/env bash
# Install Debian's headless Chromium for the HTML report tests when missing.
set -euo pipefail
if ! command -v chromium >/dev/null 2>&1; then
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver) >&2
fi
echo "export PRIVTUNE_TEST_CHROMIUM=$(command -v chromium)"
