#!/usr/bin/env bash
# Build the fewerbits image from the project root and tag it
# fewerbits:<version>-<sha256(requirements.lock)[:12]> (docker/run.sh computes the same tag).
#
#   docker/build.sh [--dry-run] [extra docker build options...]
#
# --dry-run (or FEWERBITS_DOCKER_DRYRUN=1) prints the docker command instead of running it.
# FEWERBITS_IMAGE overrides the tag. No Xilinx software goes into the image.
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

root=$(fb_project_root)
tag=${FEWERBITS_IMAGE:-$(fb_image_tag "$root")}
lock_sha=$(sha256sum "$root/requirements.lock" | cut -d' ' -f1)

args=(build -f "$root/Dockerfile" -t "$tag"
    --label "org.opencontainers.image.title=fewerbits"
    --label "fewerbits.requirements-lock.sha256=$lock_sha"
    "$@" "$root")

if [[ $dry_run == 1 ]]; then
    printf '%q' docker
    printf ' %q' "${args[@]}"
    printf '\n'
    exit 0
fi
fb_need_docker
docker "${args[@]}"
printf 'built %s\n' "$tag"
