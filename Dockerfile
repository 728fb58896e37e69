# The operator image. Build from the repository root: docker build -t modeldeploy/operator:0.1.0 .
# Any Debian bookworm image with python3 and python3-venv will do as the base; `make images`
# builds one from Debian's packages (images/base) and passes it as PYTHON_IMAGE.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
RUN python3 -m venv /opt/venv
COPY constraints.txt pyproject.toml README.md ./
COPY operator ./operator
RUN /opt/venv/bin/pip install -q -c constraints.txt . \
    && /opt/venv/bin/python -m compileall -q -j 0 /opt/venv/lib \
    && /opt/venv/bin/python -c "import modeldeploy.shell.main" \
    && /opt/venv/bin/pip uninstall -y -q pip setuptools

FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="modeldeploy-operator"
COPY --from=build /opt/venv /opt/venv
# Bytecode was compiled at build time: the root filesystem is read-only when it runs.
ENV PATH=/opt/venv/bin:$PATH PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 HOME=/tmp
USER 65532:65532
ENTRYPOINT ["modeldeploy-operator"]
