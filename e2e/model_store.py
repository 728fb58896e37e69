"""Putting models into the local cluster's S3 model store (see e2e.localcluster.addons).

The store is moto's S3 server: it takes any credentials unless IAM checks are switched on, and
the buckets made here allow anonymous reads, as a public model zoo would.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from e2e.localcluster.addons import MODEL_STORE_URL
from e2e.models import TrainedModel

PUBLIC_BUCKET = "models"
# What pods set so that the serving image's S3 client talks to the store (botocore reads the
# same variable).
ENDPOINT_ENV = {"name": "AWS_ENDPOINT_URL_S3", "value": MODEL_STORE_URL}


def s3_client(store_url: str) -> Any:
    import boto3
    from botocore.config import Config

    return boto3.session.Session().client(
        "s3",
        endpoint_url=store_url,
        region_name="us-east-1",
        aws_access_key_id="modeldeploy",
        aws_secret_access_key="modeldeploy",
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 5}),
    )


def put_model(store_url: str, path: Path, key: str, bucket: str = PUBLIC_BUCKET) -> str:
    """Uploads path as s3://bucket/key (the bucket is created on first use); returns the URI."""
    s3 = s3_client(store_url)
    existing = {b["Name"] for b in s3.list_buckets().get("Buckets", [])}
    if bucket not in existing:
        s3.create_bucket(Bucket=bucket)
    s3.upload_file(str(path), bucket, key, ExtraArgs={"ACL": "public-read"})
    return f"s3://{bucket}/{key}"


def stored(store_url: str | None, model: TrainedModel, key: str) -> TrainedModel:
    """model as pods of the cluster reach it: put into the store when the cluster has one
    (a real node), its file otherwise (the process node reads local files)."""
    if store_url is None:
        return model
    return dataclasses.replace(model, stored_at=put_model(store_url, model.path, key))
