#!/usr/bin/env bash
# Run a command (normally `fewerbits ...`) in the fewerbits image with the host's Xilinx tools.
#
#   FINN_XILINX_PATH=/tools/Xilinx FINN_XILINX_VERSION=2022.2 \
#       docker/run.sh fewerbits build runs/demo/export --out runs/demo/build --until bitstream
#
# Mounts: the work dir (FEWERBITS_WORKDIR, default: the current directory) read-write at the same
# path, and FINN_XILINX_PATH read-only at the same path (Xilinx's scripts hold absolute paths).
# Runs as your uid:gid with HOME=/tmp/fewerbits-home, so outputs are owned by you. Passes
# XILINXD_LICENSE_FILE / LM_LICENSE_FILE and mounts the licence files they name read-only.
# --dry-run (or FEWERBITS_DOCKER_DRYRUN=1) prints the docker command instead of running it; it
# needs no Docker and no Xilinx tree (without FINN_XILINX_PATH it says what it would mount).
# FEWERBITS_IMAGE overrides the image; FEWERBITS_DOCKER_ARGS adds docker run options.
# -h, --help prints this text.
set -euo pipefail
# shellcheck source=docker/lib.sh
source "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/lib.sh"

if [[ ${1:-} == -h || ${1:-} == --help ]]; then
    fb_usage "$(readlink -f "${BASH_SOURCE[0]}")"
    exit 0
fi
dry_run=${FEWERBITS_DOCKER_DRYRUN:-0}
if [[ ${1:-} == --dry-run ]]; then
    dry_run=1
    shift
fi
[[ $# -gt 0 ]] || fb_die "no command given: usage: docker/run.sh [--dry-run] fewerbits COMMAND [ARGS...]"

xilinx_path=${FINN_XILINX_PATH:-}
[[ -z $xilinx_path || $xilinx_path == /* ]] || xilinx_path=$PWD/$xilinx_path
if [[ $dry_run == 1 && -z $xilinx_path ]]; then
    fb_warn "FINN_XILINX_PATH is not set: a real run mounts it read-only at the same path (shown as /path/to/Xilinx)"
    xilinx_path=/path/to/Xilinx
    FINN_XILINX_VERSION=${FINN_XILINX_VERSION:-2022.2}
else
    fb_locate_xilinx "$xilinx_path" "${FINN_XILINX_VERSION:-}"
fi
xilinx_path=${xilinx_path%/}

workdir=${FEWERBITS_WORKDIR:-$PWD}
[[ -d $workdir ]] || fb_die "FEWERBITS_WORKDIR=$workdir is not a directory"
workdir=$(cd "$workdir" && pwd)

image=${FEWERBITS_IMAGE:-$(fb_image_tag "$(fb_project_root)")}
home=/tmp/fewerbits-home

args=(run --rm --init
    --user "$(id -u):$(id -g)"
    -e "HOME=$home"
    -v "$workdir:$workdir" -w "$workdir"
    -v "$xilinx_path:$xilinx_path:ro"
    -e "FINN_XILINX_PATH=$xilinx_path" -e "FINN_XILINX_VERSION=$FINN_XILINX_VERSION")

# Licences: pass the variables by name (their values stay out of logs and `ps`), and mount
# every licence file or folder they list (port@server entries need only the network) unless
# it is already inside a mounted folder.
mounted=("$workdir" "$xilinx_path")
for var in XILINXD_LICENSE_FILE LM_LICENSE_FILE; do
    [[ -n ${!var:-} ]] || continue
    args+=(-e "$var")
    IFS=: read -r -a entries <<<"${!var}"
    for entry in "${entries[@]}"; do
        [[ $entry == /* ]] || continue
        [[ -e $entry ]] || fb_die "$var lists $entry, which does not exist: fix the licence path (or use port@server)"
        entry=${entry%/}
        inside=0
        for m in "${mounted[@]}"; do
            [[ $entry == "$m" || $entry == "$m"/* ]] && inside=1
        done
        if ((inside == 0)); then
            args+=(-v "$entry:$entry:ro")
            mounted+=("$entry")
        fi
    done
done

if [[ -t 0 && -t 1 ]]; then
    args+=(-it)
fi
if [[ -n ${FEWERBITS_DOCKER_ARGS:-} ]]; then
    read -r -a extra <<<"$FEWERBITS_DOCKER_ARGS"
    args+=("${extra[@]}")
fi
args+=("$image" "$@")

if [[ $dry_run == 1 ]]; then
    printf '%q' docker
    printf ' %q' "${args[@]}"
    printf '\n'
    exit 0
fi
fb_need_docker
docker image inspect "$image" >/dev/null 2>&1 || fb_die "image $image not found: build it with docker/build.sh (the tag follows requirements.lock and the project version)"
exec docker "${args[@]}"
