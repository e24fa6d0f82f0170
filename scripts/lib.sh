# shellcheck shell=bash
# Helpers shared by the scripts/ commands. Sourced, never executed.
#
# Home Assistant 2026.3 and newer needs Python >= 3.14.2. Where such a Python is
# on PATH, the project uses a plain virtual environment in .venv. Where there is
# none (Debian 12 and 13 ship 3.11 and 3.13), scripts/setup builds a minimal
# Debian "forky" root filesystem that carries python3.14 and runs every command
# inside it through a private mount and PID namespace, so nothing stays mounted
# or running on the host once a command returns.

set -euo pipefail

PC_REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PC_MIN_PYTHON="3.14.2"
PC_CACHE="${PANEL_CAPACITY_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/panel_capacity}"
PC_ROOTFS="$PC_CACHE/py314-forky"
PC_ROOTFS_VENV="/opt/panel-capacity-venv"
PC_NATIVE_VENV="$PC_REPO/.venv"

pc_log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
pc_die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# Print the first Python on PATH that is new enough, or nothing.
pc_find_python() {
  local candidate
  for candidate in python3.14 python3 python; do
    if command -v "$candidate" >/dev/null 2>&1 && "$candidate" - "$PC_MIN_PYTHON" <<'EOF' >/dev/null 2>&1
import sys
want = tuple(int(part) for part in sys.argv[1].split("."))
sys.exit(0 if sys.version_info[:3] >= want else 1)
EOF
    then
      command -v "$candidate"
      return 0
    fi
  done
  return 0
}

# "native" (a venv on a suitable host Python) or "rootfs" (Python 3.14 in a chroot).
pc_mode() {
  if [ -n "${PANEL_CAPACITY_MODE:-}" ]; then
    echo "$PANEL_CAPACITY_MODE"
  elif [ -x "$PC_NATIVE_VENV/bin/python" ] || [ -n "$(pc_find_python)" ]; then
    echo native
  else
    echo rootfs
  fi
}

# The requirement files whose contents decide whether the environment is current.
pc_requirements_digest() {
  cat "$PC_REPO/requirements_test.txt" "$PC_REPO/requirements_dev.txt" "$PC_REPO/config/configuration.yaml" | sha256sum | cut -d' ' -f1
}

pc_env_ready() {
  local stamp
  if [ "$(pc_mode)" = native ]; then
    stamp="$PC_NATIVE_VENV/.panel-capacity-stamp"
  else
    stamp="$PC_ROOTFS$PC_ROOTFS_VENV/.panel-capacity-stamp"
  fi
  [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$(pc_requirements_digest)" ]
}

# Run a command inside the project's Python environment, from the current
# directory (or the repository root when the current directory is outside it).
pc_run() {
  local workdir="$PWD"
  case "$workdir" in
    "$PC_REPO" | "$PC_REPO"/*) ;;
    *) workdir="$PC_REPO" ;;
  esac
  if [ "$(pc_mode)" = native ]; then
    (cd "$workdir" && PATH="$PC_NATIVE_VENV/bin:$PATH" VIRTUAL_ENV="$PC_NATIVE_VENV" "$@")
    return
  fi
  [ "$(id -u)" = 0 ] || pc_die "running inside the Python 3.14 root filesystem needs root (or install Python >= $PC_MIN_PYTHON)"
  # Variables worth carrying into the root filesystem; the rest of the host's
  # environment (its pip mirrors, pyenv shims...) stays outside.
  local -a passthrough=()
  local name
  for name in CI COLUMNS TERM PYTEST_ADDOPTS HYPOTHESIS_PROFILE PANEL_CAPACITY_HOST PANEL_CAPACITY_PORT PANEL_CAPACITY_README_SHOTS; do
    if [ -n "${!name:-}" ]; then
      passthrough+=("$name=${!name}")
    fi
  done
  # A private mount namespace and a PID namespace: the bind mounts vanish and
  # every process started inside is killed when the command returns.
  unshare --mount --propagation private --pid --fork --kill-child -- \
    /bin/sh "$PC_REPO/scripts/enter-rootfs.sh" "$PC_ROOTFS" "$PC_REPO" "$workdir" "$PC_ROOTFS_VENV" \
    "${passthrough[@]}" "$@"
}

# Make sure the environment exists and is current; build or update it if not.
pc_ensure_env() {
  if ! pc_env_ready; then
    "$PC_REPO/scripts/setup"
  fi
}

# Debian's Chromium for the browser tests: in the root filesystem (rootfs
# mode) or on the host (native mode, where apt is the host's).
pc_ensure_chromium() {
  local apt='export DEBIAN_FRONTEND=noninteractive
    apt-get -o Acquire::Check-Valid-Until=false update -qq &&
    apt-get -o Acquire::Check-Valid-Until=false install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null'
  if [ "$(pc_mode)" = native ]; then
    command -v chromium >/dev/null 2>&1 || sh -c "$apt" || pc_die "could not install chromium from Debian"
  elif [ ! -x "$PC_ROOTFS/usr/bin/chromium" ]; then
    pc_log "installing Debian's chromium in the root filesystem (about 20 s)"
    pc_run sh -c "$apt" || pc_die "could not install chromium from Debian"
  fi
}
