# The operator image. Build: docker build -t modeldeploy/operator:0.1.0 .
FROM python:3.11-slim AS build
WORKDIR /src
RUN python -m venv /opt/venv
COPY constraints.txt pyproject.toml README.md ./
COPY operator ./operator
RUN /opt/venv/bin/pip install --no-cache-dir -c constraints.txt .

FROM python:3.11-slim
COPY --from=build /opt/venv /opt/venv
USER 65532:65532
ENV PATH=/opt/venv/bin:$PATH PYTHONUNBUFFERED=1
ENTRYPOINT ["modeldeploy-operator"]
