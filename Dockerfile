# STUB until issue 8 (Docker): the image will install the same requirements.lock as the
# Makefile, finn-hlslib at finn-plus 1.6.1's pinned commit, board files and Verilator, and run
# `fewerbits` with the host's Vivado mounted read-only (docker/run.sh).
FROM python:3.11-slim
WORKDIR /opt/fewerbits
COPY requirements.lock pyproject.toml README.md ./
COPY fewerbits fewerbits
COPY train train
COPY export export
COPY hw hw
RUN python -m pip install --no-cache-dir "$(grep -m1 '^torch==' requirements.lock)" \
 && python -m pip install --no-cache-dir --no-deps -r requirements.lock \
 && python -m pip install --no-cache-dir --no-deps --no-build-isolation .
ENTRYPOINT ["fewerbits"]
