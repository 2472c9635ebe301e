#!/usr/bin/env bash
# Sets up Anju on a fresh Debian-family machine: system packages, a virtual
# environment with the project installed, and the default model pack.
# Safe to run again: every step is skipped when already done.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
PY=${PYTHON:-python3}

# System packages: the MQTT broker, FFmpeg/GStreamer for cameras and the test RTSP
# server, Chromium for the console's browser tests. Installed only when missing.
APT_PKGS=(mosquitto ffmpeg chromium fonts-wqy-microhei python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly gstreamer1.0-libav)
missing=()
for pkg in "${APT_PKGS[@]}"; do
  dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "setup: installing ${missing[*]}" >&2
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "setup: please install: ${missing[*]} (needs root)" >&2
  fi
fi

if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
stamp=.venv/.anju-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  .venv/bin/pip install -q --upgrade pip
  .venv/bin/pip install -q -e ".[dev]"
  touch "$stamp"
fi

# The console's browser tests drive the system Chromium through playwright-core (no browser download).
if command -v npm >/dev/null && [ -f package-lock.json ] && [ ! -d node_modules/playwright-core ]; then
  PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --silent
fi

# Models: an air-gapped mirror beside the checkout if there is one, upstream otherwise.
MIRROR_ARGS=()
if [ -d "$ROOT/../shared/models" ]; then
  MIRROR_ARGS=(--mirror "$ROOT/../shared/models")
fi
if .venv/bin/anju models --help >/dev/null 2>&1; then
  .venv/bin/anju models fetch "${MIRROR_ARGS[@]}"
fi
echo "setup: done" >&2
