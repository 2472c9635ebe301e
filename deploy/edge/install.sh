#!/usr/bin/env bash
# Install an Anju edge node on Raspberry Pi OS (64-bit), NVIDIA Jetson (JetPack) or Debian/Ubuntu.
#
#   sudo deploy/edge/install.sh --node gate-1 --site-bundle /media/usb/site-demo \
#        --mirror /media/usb/models --config /media/usb/gate-1.yml
#
# What it does, in order:
#   1. checks the platform and the site bundle (the output of
#      `anju gateway broker-config --site SITE --out DIR --nodes gate-1,...`, copied to a USB stick);
#   2. installs the OS packages (python3-venv, OpenCV runtime libraries);
#   3. creates the `anju` system user (groups gpio/video/render where they exist);
#   4. builds the venv /opt/anju/venv with Anju and an ONNX Runtime build for the platform:
#      Jetson: the venv sees JetPack's system packages (TensorRT) and takes onnxruntime-gpu from
#      --ort-wheel (NVIDIA's Jetson wheel) so the TensorRT/CUDA execution providers are used;
#      elsewhere: onnxruntime (CPU) from PyPI or the --wheels folder;
#   5. fetches the model pack from the mirror (`anju models fetch --mirror`), checksums verified;
#   6. provisions the site keys and certificates to /etc/anju/site (root:anju, 0640);
#   7. installs /etc/anju/edge.yml (kept if present unless --force), checks it with `anju edge check`
#      when --check is given, and installs and starts anju-edge.service.
# --dry-run prints every command instead of running it (nothing is changed).
set -euo pipefail

PREFIX=/opt/anju
STATE=/var/lib/anju-edge
ETC=/etc/anju
NODE=""
BUNDLE=""
MIRROR=""
PACKS=()
CONFIG=""
SOURCE=""
WHEELS=""
ORT_WHEEL=""
DRY_RUN=0
FORCE=0
CHECK=0
START=1
PYTHON=${PYTHON:-python3}
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

usage() {
    sed -n '2,26p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
    cat <<'EOF'
Options:
  --node ID            this node's id (as given to broker-config --nodes)         [required]
  --site-bundle DIR    broker-config output folder for the site                    [required]
  --mirror DIR         model mirror folder (air-gapped sites); default: upstream
  --pack NAME          model pack (repeatable; default pack when omitted)
  --config FILE        edge YAML to install as /etc/anju/edge.yml
  --source DIR|WHEEL   Anju source tree or wheel to install (default: this checkout)
  --wheels DIR         offline wheel folder for pip (--no-index --find-links)
  --ort-wheel FILE     onnxruntime-gpu wheel for Jetson (from NVIDIA's Jetson Zoo)
  --check              run `anju edge check` on the installed config
  --no-start           install the service but do not start it
  --force              overwrite an existing /etc/anju/edge.yml
  --dry-run            print the commands, change nothing
EOF
}

die() { echo "install.sh: error: $*" >&2; exit 1; }
say() { echo "==> $*"; }
run() {
    if [ "$DRY_RUN" = 1 ]; then
        printf '+'; printf ' %q' "$@"; printf '\n'
    else
        "$@"
    fi
}

while [ $# -gt 0 ]; do
    case "$1" in
        --node) NODE=${2:?--node needs a value}; shift 2 ;;
        --site-bundle) BUNDLE=${2:?--site-bundle needs a folder}; shift 2 ;;
        --mirror) MIRROR=${2:?--mirror needs a folder}; shift 2 ;;
        --pack) PACKS+=("--pack" "${2:?--pack needs a name}"); shift 2 ;;
        --config) CONFIG=${2:?--config needs a file}; shift 2 ;;
        --source) SOURCE=${2:?--source needs a path}; shift 2 ;;
        --wheels) WHEELS=${2:?--wheels needs a folder}; shift 2 ;;
        --ort-wheel) ORT_WHEEL=${2:?--ort-wheel needs a file}; shift 2 ;;
        --check) CHECK=1; shift ;;
        --no-start) START=0; shift ;;
        --force) FORCE=1; shift ;;
        --dry-run) DRY_RUN=1; shift ;;
        -h|--help) usage; exit 0 ;;
        *) usage >&2; die "unknown option: $1" ;;
    esac
done

[ -n "$NODE" ] || die "--node is required (the node id given to broker-config --nodes)"
[[ "$NODE" =~ ^[A-Za-z0-9_-]{1,64}$ ]] || die "--node '$NODE': only letters, digits, '-' and '_' (1-64)"
[ -n "$BUNDLE" ] || die "--site-bundle is required (the broker-config output folder)"
[ -d "$BUNDLE" ] || die "--site-bundle $BUNDLE: not a folder"
[ -z "$MIRROR" ] || [ -d "$MIRROR" ] || die "--mirror $MIRROR: not a folder"
[ -z "$CONFIG" ] || [ -f "$CONFIG" ] || die "--config $CONFIG: file not found"
[ -z "$ORT_WHEEL" ] || [ -f "$ORT_WHEEL" ] || die "--ort-wheel $ORT_WHEEL: file not found"
[ -z "$WHEELS" ] || [ -d "$WHEELS" ] || die "--wheels $WHEELS: not a folder"
SOURCE=${SOURCE:-$(cd "$HERE/../.." && pwd)}
[ -e "$SOURCE" ] || die "--source $SOURCE: not found"

# The files this node needs from the bundle. ca.key never leaves the provisioning machine.
NEED=(
    "ca.crt"
    "clients/$NODE.crt"
    "clients/$NODE.key"
    "keys/$NODE.sign.pem"
    "keys/central.sign.pub.pem"
)
for f in "${NEED[@]}"; do
    [ -f "$BUNDLE/$f" ] || die "site bundle $BUNDLE lacks $f (run: anju gateway broker-config --site SITE --out DIR --nodes $NODE)"
done
if [ -f "$BUNDLE/ca.key" ]; then
    echo "install.sh: warning: $BUNDLE/ca.key is the site CA's private key; it is NOT copied. Keep it offline." >&2
fi

# ---- 1. platform ---------------------------------------------------------------------------------
ARCH=$(uname -m)
PLATFORM=generic
if [ -f /etc/nv_tegra_release ] || grep -qi tegra /proc/device-tree/compatible 2>/dev/null; then
    PLATFORM=jetson
elif grep -qi "raspberry pi" /proc/device-tree/model 2>/dev/null; then
    PLATFORM=raspberrypi
fi
if [ "$PLATFORM" = raspberrypi ] && [ "$ARCH" != aarch64 ]; then
    die "Raspberry Pi OS must be the 64-bit edition (uname -m says $ARCH); onnxruntime has no 32-bit ARM wheels"
fi
say "platform: $PLATFORM ($ARCH)"
if [ "$DRY_RUN" = 0 ] && [ "$(id -u)" != 0 ]; then
    die "run as root (sudo), or with --dry-run to see what would be done"
fi

# ---- 2. OS packages --------------------------------------------------------------------------------
say "OS packages"
run apt-get update
run apt-get install -y --no-install-recommends python3 python3-venv python3-pip libgl1 libglib2.0-0 ca-certificates

# ---- 3. user -------------------------------------------------------------------------------------
say "system user anju"
if ! id anju >/dev/null 2>&1; then
    run useradd --system --home-dir "$STATE" --no-create-home --shell /usr/sbin/nologin anju
fi
for g in gpio video render; do
    if getent group "$g" >/dev/null; then run usermod -aG "$g" anju; fi
done

# ---- 4. venv and ONNX Runtime --------------------------------------------------------------------
say "venv $PREFIX/venv"
VENV_ARGS=()
if [ "$PLATFORM" = jetson ]; then
    VENV_ARGS+=(--system-site-packages)   # JetPack's TensorRT Python bindings live there
fi
run mkdir -p "$PREFIX"
run "$PYTHON" -m venv "${VENV_ARGS[@]}" "$PREFIX/venv"
PIP=("$PREFIX/venv/bin/pip" install --upgrade)
if [ -n "$WHEELS" ]; then PIP+=(--no-index --find-links "$WHEELS"); fi
run "${PIP[@]}" pip wheel
run "${PIP[@]}" "$SOURCE"
if [ "$PLATFORM" = jetson ]; then
    if [ -n "$ORT_WHEEL" ]; then
        run "$PREFIX/venv/bin/pip" uninstall -y onnxruntime
        run "${PIP[@]}" "$ORT_WHEEL"
    else
        echo "install.sh: warning: Jetson without --ort-wheel: ONNX Runtime runs on the CPU only." >&2
        echo "  Get onnxruntime-gpu for your JetPack from NVIDIA's Jetson Zoo and pass --ort-wheel FILE." >&2
    fi
fi
run "$PREFIX/venv/bin/python" -c "import onnxruntime as ort; print('onnxruntime', ort.__version__, ort.get_available_providers())"

# the backup/restore scripts and the unit files, for later use on this node
run install -d -m 0755 "$PREFIX/deploy"
run cp -a "$HERE/../backup" "$HERE/../systemd" "$HERE/../README.md" "$PREFIX/deploy/"

# ---- 5. models -----------------------------------------------------------------------------------
say "models into $STATE/models"
run install -d -o root -g anju -m 0750 "$STATE"
run install -d -o anju -g anju -m 0750 "$STATE/models"
FETCH=("$PREFIX/venv/bin/anju" models fetch --model-dir "$STATE/models" "${PACKS[@]}")
if [ -n "$MIRROR" ]; then FETCH+=(--mirror "$MIRROR"); fi
run "${FETCH[@]}"
run chown -R anju:anju "$STATE/models"

# ---- 6. site keys and certificates ---------------------------------------------------------------
say "site keys into $ETC/site"
run install -d -o root -g anju -m 0750 "$ETC" "$ETC/site"
run install -o root -g anju -m 0644 "$BUNDLE/ca.crt" "$ETC/site/ca.crt"
run install -o root -g anju -m 0644 "$BUNDLE/clients/$NODE.crt" "$ETC/site/node.crt"
run install -o root -g anju -m 0640 "$BUNDLE/clients/$NODE.key" "$ETC/site/node.key"
run install -o root -g anju -m 0640 "$BUNDLE/keys/$NODE.sign.pem" "$ETC/site/node.sign.pem"
run install -o root -g anju -m 0644 "$BUNDLE/keys/central.sign.pub.pem" "$ETC/site/central.sign.pub.pem"
# during a key rotation the bundle carries the next central key too; nodes accept both for a while
if [ -f "$BUNDLE/keys/central.next.sign.pub.pem" ]; then
    run install -o root -g anju -m 0644 "$BUNDLE/keys/central.next.sign.pub.pem" "$ETC/site/central.next.sign.pub.pem"
fi

# ---- 7. config and service -----------------------------------------------------------------------
if [ -n "$CONFIG" ]; then
    if [ -f "$ETC/edge.yml" ] && [ "$FORCE" = 0 ]; then
        echo "install.sh: keeping the existing $ETC/edge.yml (use --force to replace it)" >&2
    else
        run install -o root -g anju -m 0640 "$CONFIG" "$ETC/edge.yml"
    fi
fi
if [ "$CHECK" = 1 ]; then
    run "$PREFIX/venv/bin/anju" edge check --config "$ETC/edge.yml"
fi
say "systemd unit anju-edge.service"
run install -o root -g root -m 0644 "$HERE/../systemd/anju-edge.service" /etc/systemd/system/anju-edge.service
run systemctl daemon-reload
if [ "$START" = 1 ]; then
    [ "$DRY_RUN" = 1 ] || [ -f "$ETC/edge.yml" ] || die "$ETC/edge.yml missing: pass --config FILE"
    run systemctl enable --now anju-edge.service
else
    run systemctl enable anju-edge.service
fi
say "done: node $NODE on $PLATFORM. Logs: journalctl -u anju-edge -f"
