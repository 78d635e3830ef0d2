#!/usr/bin/env bash
# Entrypoint of the fewerbits image: prepare a writable HOME for the invoking uid, set up the
# host's Xilinx tools mounted at FINN_XILINX_PATH (version FINN_XILINX_VERSION), check that they
# are a version finn-plus 1.6.1 supports, then run the given command (e.g. `fewerbits build ...`).
# Every failure is one line on stderr and exit 2. Without FINN_XILINX_PATH the command still
# runs (only the steps that need no Vivado will work) after a warning.
set -euo pipefail
# shellcheck source=docker/lib.sh
source "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/lib.sh"

# docker run --user UID:GID gives a user without a passwd entry and HOME=/; Vivado and Python
# tools want a name and a writable home.
# (run.sh passes HOME=/tmp/fewerbits-home; a plain `docker run --user` leaves HOME=/.)
if [[ -z ${HOME:-} || $HOME == / ]]; then
    HOME=/tmp/fewerbits-home-$(id -u)
    export HOME
fi
mkdir -p "$HOME" 2>/dev/null || fb_die "cannot create HOME=$HOME as uid $(id -u): pass a writable HOME (docker/run.sh sets HOME=/tmp/fewerbits-home)"
[[ -w $HOME ]] || fb_die "HOME=$HOME is not writable by uid $(id -u):$(id -g): pass a writable HOME (docker/run.sh sets HOME=/tmp/fewerbits-home)"
# A passwd entry for an unmapped uid: appended to a writable passwd file (FEWERBITS_PASSWD_FILE),
# else given through nss_wrapper with a copy in HOME (the image's /etc/passwd is not writable).
passwd_file=${FEWERBITS_PASSWD_FILE:-/etc/passwd}
entry="fewerbits:x:$(id -u):$(id -g):fewerbits:$HOME:/bin/bash"
if ! getent passwd "$(id -u)" >/dev/null && ! grep -q "^[^:]*:[^:]*:$(id -u):" "$passwd_file" 2>/dev/null; then
    nss_lib=$(compgen -G '/usr/lib/*/libnss_wrapper.so' | head -n 1 || true)
    if [[ -w $passwd_file ]]; then
        printf '%s\n' "$entry" >>"$passwd_file"
    elif [[ -n $nss_lib ]]; then
        { cat "$passwd_file"; printf '%s\n' "$entry"; } >"$HOME/.fewerbits-passwd"
        export NSS_WRAPPER_PASSWD=$HOME/.fewerbits-passwd NSS_WRAPPER_GROUP=/etc/group
        export LD_PRELOAD=$nss_lib${LD_PRELOAD:+:$LD_PRELOAD}
    fi
fi

[[ $# -gt 0 ]] || set -- fewerbits --help

if [[ -z ${FINN_XILINX_PATH:-} ]]; then
    fb_warn "FINN_XILINX_PATH is not set: running without Vivado/Vitis HLS (HLS IP, xsim, synthesis and bitstream steps will fail); use docker/run.sh to mount them"
else
    fb_locate_xilinx "$FINN_XILINX_PATH" "${FINN_XILINX_VERSION:-}"
    fb_activate_xilinx "$FINN_XILINX_VERSION"
fi

exec "$@"
