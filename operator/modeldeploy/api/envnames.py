"""Environment names of the serving container, by what setting one of them changes.

The serving image is configured through its environment (serving-image/README.md), and so are
the programs under it: the Python interpreter, the dynamic linker, OpenSSL, and the S3 client
that fetches the model. A name a ModelDeployment sets (`spec.serving.env`, or a key of an
`envFrom` Secret or ConfigMap after its prefix) is in one of these classes:

- OPERATOR: the operator sets it from the spec (`MODEL_*`, `SERVING_PORT`), or it bounds what the
  operator tells the pods (`SERVING_HOST`, `SERVING_SHADOW_TARGET_SUFFIXES`). Every other
  `SERVING_*` name is the operator's too, but for the serving image's tuning, which is the
  user's (`USER_SERVING_NAMES`).
- CODE: it changes what code runs in the image: the interpreter's path and start-up
  (`PYTHON*`), the linker's (`LD_*`), OpenSSL's and iconv's modules (`OPENSSL_*`,
  `GCONV_PATH`), `PATH`, and the AWS configuration files, whose `credential_process` runs a
  command (`AWS_CONFIG_FILE`, `AWS_SHARED_CREDENTIALS_FILE`, and `HOME`, under which the client
  looks for them).
- ENDPOINT: its value is a URL the model fetch goes to instead of the model URI's own host: the
  S3 endpoint overrides the serving image reads, and proxies.
- FETCH: it changes how the fetch reaches or trusts its source in ways no value can be checked
  for: CA bundles, and every other `AWS_*` and `S3_*` setting.
- FREE: anything else, among them credentials and region (`AWS_ACCESS_KEY_ID`, ...), `NO_PROXY`
  (which only takes a proxy away), `LOG_LEVEL` and the serving image's tuning.

Names are compared in upper case: proxies are read in either case, and a name that differs from
a reserved one only in case is refused with it.
"""

from __future__ import annotations

from enum import StrEnum


class EnvClass(StrEnum):
    OPERATOR = "operator"
    CODE = "code"
    ENDPOINT = "endpoint"
    FETCH = "fetch"
    FREE = "free"


# The serving image's settings a ModelDeployment may tune (serving-image/README.md).
USER_SERVING_NAMES = frozenset(
    {
        "SERVING_ACCESS_LOG",
        "SERVING_DRAIN_SECONDS",
        "SERVING_MAX_BATCH_ROWS",
        "SERVING_MAX_BODY_BYTES",
        "SERVING_MAX_REQUESTS_PER_CONNECTION",
        "SERVING_ONNX_THREADS",
        "SERVING_PREDICTION_BUCKETS",
        "SERVING_RESPONSE_DELAY_MS",
        "SERVING_SHUTDOWN_TIMEOUT_SECONDS",
        "SERVING_WORKERS",
    }
)
# Credentials and region: who asks, never where the fetch goes.
CREDENTIAL_NAMES = frozenset(
    {
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
        "AWS_ROLE_ARN",
        "AWS_ROLE_SESSION_NAME",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_STS_REGIONAL_ENDPOINTS",
    }
)
# The S3 endpoint overrides the serving image reads (modeldeploy_serving/config.py), and the
# proxies urllib and botocore send requests through.
ENDPOINT_NAMES = frozenset(
    {"S3_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL", "HTTP_PROXY", "HTTPS_PROXY",
     "ALL_PROXY"}
)  # fmt: skip

# HOME, because the S3 client reads ~/.aws/config, whose credential_process runs a command.
_CODE_NAMES = frozenset(
    {"PATH", "HOME", "GCONV_PATH", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"}
)
# (class, exact names, name prefixes, why), first match wins; FREE names are taken out first.
_CLASSES: tuple[tuple[EnvClass, frozenset[str], tuple[str, ...], str], ...] = (
    (
        EnvClass.OPERATOR,
        frozenset(),
        ("MODEL_", "SERVING_"),
        "the operator sets the serving image's model and server settings from the spec",
    ),
    (
        EnvClass.CODE,
        _CODE_NAMES,
        ("PYTHON", "LD_", "OPENSSL_"),
        "it changes the code the serving image runs; other code is another image "
        "(spec.serving.image)",
    ),
    (
        EnvClass.ENDPOINT,
        ENDPOINT_NAMES,
        (),
        "its value is a server the model fetch goes to instead of the model URI's own",
    ),
    (
        EnvClass.FETCH,
        frozenset({"REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"}),
        ("AWS_", "S3_", "SSL_"),
        "it changes how the model fetch reaches or trusts its source",
    ),
)
_FREE = USER_SERVING_NAMES | CREDENTIAL_NAMES | {"NO_PROXY"}


def classify(name: str) -> tuple[EnvClass, str]:
    """The class of an environment name, and why it is in it ("" for FREE)."""
    upper = name.upper()
    if upper in _FREE:
        return EnvClass.FREE, ""
    for env_class, exact, prefixes, why in _CLASSES:
        if upper in exact or upper.startswith(prefixes):
            return env_class, why
    return EnvClass.FREE, ""


def prefix_class(prefix: str) -> tuple[EnvClass, str]:
    """The class of every name `envFrom` makes with this prefix, whatever its keys, when the
    prefix alone decides it: one under a reserved name prefix (`LD_`, `MODEL_X`) makes only
    names of that prefix's class, and is in it; any other is FREE here (see prefix_reaches for
    what its keys may make)."""
    upper = prefix.upper()
    for env_class, _exact, prefixes, why in _CLASSES:
        if upper.startswith(prefixes):
            return env_class, why
    return EnvClass.FREE, ""


# A name each reserved prefix makes, to say what an envFrom prefix could set.
_EXAMPLES = {
    "MODEL_": "MODEL_CACHE_DIR",
    "SERVING_": "SERVING_SHADOW_TARGET_SUFFIXES",
    "PYTHON": "PYTHONPATH",
    "LD_": "LD_PRELOAD",
    "OPENSSL_": "OPENSSL_CONF",
    "AWS_": "AWS_CA_BUNDLE",
    "SSL_": "SSL_CERT_FILE",
}


def prefix_reaches(prefix: str) -> dict[EnvClass, str]:
    """Each class (but FREE) of which `envFrom` with this prefix ("" for none) may set a name,
    the Secret's or ConfigMap's keys being whatever their author chose, with such a name."""
    upper = prefix.upper()
    reached: dict[EnvClass, str] = {}
    for env_class, exact, prefixes, _why in _CLASSES:
        # A key completes the prefix into a name: one under a reserved prefix that the prefix
        # begins or is under, or a reserved name longer than the prefix that starts with it.
        examples = [
            example if (example := _EXAMPLES.get(p, p + "X")).startswith(upper) else upper + "X"
            for p in prefixes
            if upper.startswith(p) or p.startswith(upper)
        ]
        examples += sorted(n for n in exact if n.startswith(upper) and len(n) > len(upper))
        examples = [e for e in examples if e not in _FREE]
        if examples:
            reached[env_class] = examples[0]
    return reached
