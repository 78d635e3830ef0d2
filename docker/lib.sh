# shellcheck shell=bash
# Shared by docker/build.sh, docker/run.sh (on the host) and docker/entrypoint.sh (in the image).
# Functions only; sourcing this file changes nothing else.

# Vivado/Vitis HLS releases finn-plus 1.6.1 supports (its docs and version-dependent code paths).
FEWERBITS_SUPPORTED_XILINX_VERSIONS="2022.2 2024.2"

# One clear line on stderr, then exit 2 (configuration error).
fb_die() {
    printf 'fewerbits-docker: error: %s\n' "$*" >&2
    exit 2
}

fb_warn() {
    printf 'fewerbits-docker: warning: %s\n' "$*" >&2
}

# The usage text of a script: its leading comment block (after the shebang), without the '# '.
fb_usage() {
    sed -n '2,/^[^#]/{/^#/s/^# \{0,1\}//p}' "$1"
}

# Docker must be installed and its daemon reachable (one line naming which is missing).
fb_need_docker() {
    command -v docker >/dev/null || fb_die "docker not found on PATH: install Docker Engine (docs.docker.com/engine/install) and add your user to the docker group"
    docker info >/dev/null 2>&1 || fb_die "cannot reach a Docker daemon ('docker info' failed): start it (sudo systemctl start docker), or check DOCKER_HOST and that your user may use the docker socket"
}

# The project root: FEWERBITS_PROJECT_ROOT, else the parent of this docker/ folder.
fb_project_root() {
    if [[ -n ${FEWERBITS_PROJECT_ROOT:-} ]]; then
        printf '%s\n' "$FEWERBITS_PROJECT_ROOT"
    else
        (cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
    fi
}

# Image tag: fewerbits:<project version>-<first 12 hex of sha256(requirements.lock)>, so a
# changed lock or version is a new image and run.sh never uses a stale one.
fb_image_tag() {
    local root=$1 version hash
    [[ -f $root/pyproject.toml ]] || fb_die "$root/pyproject.toml not found: run from a fewerbits checkout"
    [[ -f $root/requirements.lock ]] || fb_die "$root/requirements.lock not found: run from a fewerbits checkout"
    version=$(sed -n 's/^version *= *"\([^"]*\)".*/\1/p' "$root/pyproject.toml" | head -n 1)
    [[ -n $version ]] || fb_die "no 'version = \"...\"' line in $root/pyproject.toml"
    hash=$(sha256sum "$root/requirements.lock" | cut -c1-12)
    printf 'fewerbits:%s-%s\n' "$version" "$hash"
}

# Versions installed under a Xilinx root (the names of Vivado/<version>/settings64.sh), or "none".
fb_found_versions() {
    local root=$1 found="" d
    for d in "$root"/Vivado/*/; do
        [[ -f ${d}settings64.sh ]] && found+="$(basename "$d") "
    done
    found=${found% }
    printf '%s\n' "${found:-none}"
}

# Check a Xilinx install tree without running anything from it. On success sets
# FB_VIVADO_DIR, FB_VIVADO_SETTINGS, FB_HLS_DIR, FB_HLS_SETTINGS. On failure: fb_die.
# Layouts: 2022.2 has Vitis HLS in Vitis_HLS/<v>; from 2024.2 it is part of Vitis/<v>.
fb_locate_xilinx() {
    local root=$1 version=$2 v ok=0 cand
    [[ -n $root ]] || fb_die "FINN_XILINX_PATH is not set: export FINN_XILINX_PATH=/path/to/Xilinx (the folder that contains Vivado/ and Vitis_HLS/ or Vitis/)"
    if [[ ! -d $root ]]; then
        if [[ $(stat "$root" 2>&1 >/dev/null || true) == *"Permission denied"* ]]; then
            fb_die "FINN_XILINX_PATH=$root cannot be accessed by uid $(id -u): make it and its parent folders readable (chmod o+rx) for that user"
        fi
        fb_die "FINN_XILINX_PATH=$root is not a directory: point it at the Xilinx install root (the folder that contains Vivado/)"
    fi
    [[ -r $root && -x $root ]] || fb_die "FINN_XILINX_PATH=$root cannot be read by uid $(id -u): make it readable (chmod o+rx) for that user"
    [[ -n $version ]] || fb_die "FINN_XILINX_VERSION is not set: export FINN_XILINX_VERSION to one of: $FEWERBITS_SUPPORTED_XILINX_VERSIONS (found under $root: $(fb_found_versions "$root"))"
    for v in $FEWERBITS_SUPPORTED_XILINX_VERSIONS; do
        [[ $v == "$version" ]] && ok=1
    done
    ((ok)) || fb_die "FINN_XILINX_VERSION=$version is not supported by finn-plus 1.6.1: use one of $FEWERBITS_SUPPORTED_XILINX_VERSIONS (found under $root: $(fb_found_versions "$root"))"
    FB_VIVADO_DIR=$root/Vivado/$version
    FB_VIVADO_SETTINGS=$FB_VIVADO_DIR/settings64.sh
    [[ -f $FB_VIVADO_SETTINGS ]] || fb_die "Vivado $version not found: $FB_VIVADO_SETTINGS does not exist (Vivado versions under $root: $(fb_found_versions "$root"))"
    [[ -x $FB_VIVADO_DIR/bin/vivado ]] || fb_die "Vivado $version is incomplete: $FB_VIVADO_DIR/bin/vivado is missing or not executable"
    FB_HLS_DIR=""
    for cand in "$root/Vitis_HLS/$version" "$root/Vitis/$version"; do
        if [[ -f $cand/settings64.sh && -x $cand/bin/vitis_hls ]]; then
            FB_HLS_DIR=$cand
            break
        fi
    done
    [[ -n $FB_HLS_DIR ]] || fb_die "Vitis HLS $version not found: neither $root/Vitis_HLS/$version nor $root/Vitis/$version has settings64.sh and bin/vitis_hls (install Vitis HLS $version with Vivado)"
    FB_HLS_SETTINGS=$FB_HLS_DIR/settings64.sh
}

# Source the located settings64.sh files and check what they set up: XILINX_VIVADO must be the
# located Vivado, `vivado` on PATH must be that one, and `vivado -version` must report $version.
# Exports XILINX_VIVADO, XILINX_HLS (and XILINX_VITIS when the Vitis settings set it).
fb_activate_xilinx() {
    local version=$1 reported out vivado_bin
    # Xilinx's scripts are not written for `set -eu`.
    set +eu
    # shellcheck disable=SC1090
    source "$FB_VIVADO_SETTINGS"
    # shellcheck disable=SC1090
    source "$FB_HLS_SETTINGS"
    set -eu
    [[ ${XILINX_VIVADO:-} -ef $FB_VIVADO_DIR ]] || fb_die "$FB_VIVADO_SETTINGS set XILINX_VIVADO=${XILINX_VIVADO:-<unset>}, expected $FB_VIVADO_DIR: the settings file belongs to another install"
    export XILINX_VIVADO
    export XILINX_HLS=${XILINX_HLS:-$FB_HLS_DIR}
    vivado_bin=$(command -v vivado || true)
    [[ -n $vivado_bin && $vivado_bin -ef $XILINX_VIVADO/bin/vivado ]] || fb_die "after sourcing $FB_VIVADO_SETTINGS, vivado on PATH is '${vivado_bin:-none}', expected $XILINX_VIVADO/bin/vivado"
    command -v vitis_hls >/dev/null || fb_die "after sourcing $FB_HLS_SETTINGS, vitis_hls is not on PATH"
    out=$(cd "${HOME:-/tmp}" && timeout "${FEWERBITS_VERSION_PROBE_TIMEOUT:-300}" vivado -version 2>&1) || fb_die "'vivado -version' failed (exit $?): check the Vivado $version install and its system libraries (first output line: $(head -n 1 <<<"$out"))"
    reported=$(grep -oiE 'v20[0-9]{2}\.[0-9]' <<<"$out" | head -n 1 || true)
    [[ ${reported#[vV]} == "$version" ]] || fb_die "vivado at $XILINX_VIVADO reports version '${reported:-none}' but FINN_XILINX_VERSION=$version: set FINN_XILINX_VERSION to the installed version (supported: $FEWERBITS_SUPPORTED_XILINX_VERSIONS)"
}
