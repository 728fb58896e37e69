"""Models in the local cluster's S3 model store (see e2e.localcluster.addons).

Models put into the public bucket are readable by anyone (a bucket policy says so), as in a
public model zoo; other buckets refuse unsigned requests, so pods read them only with a key,
which they get from a Secret.
"""

from __future__ import annotations

import dataclasses
import json
import os
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from e2e.localcluster.addons import MODEL_STORE_URL
from e2e.models import TrainedModel

PUBLIC_BUCKET = "models"
# What pods set so that the serving image's S3 client talks to the store (botocore reads the
# same variable).
ENDPOINT_ENV = {"name": "AWS_ENDPOINT_URL_S3", "value": MODEL_STORE_URL}


@dataclass(frozen=True)
class ModelStore:
    """The store as the host reaches it."""

    url: str
    access_key: str = "modeldeploy-admin"
    secret_key: str = "modeldeploy-admin"

    def client(self, service: str = "s3", key: tuple[str, str] | None = None) -> Any:
        import boto3
        from botocore.config import Config

        access, secret = key or (self.access_key, self.secret_key)
        return boto3.session.Session().client(
            service,  # type: ignore[call-overload]
            endpoint_url=self.url,
            region_name="us-east-1",
            aws_access_key_id=access,
            aws_secret_access_key=secret,
            config=Config(
                s3={"addressing_style": "path"}, retries={"max_attempts": 10, "mode": "standard"}
            ),
        )

    def ensure_bucket(self, bucket: str, public: bool) -> None:
        s3 = self.client()
        if bucket in {b["Name"] for b in s3.list_buckets().get("Buckets", [])}:
            return
        s3.create_bucket(Bucket=bucket)
        if public:
            anyone_reads = {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": "*",
                        "Action": "s3:GetObject",
                        "Resource": f"arn:aws:s3:::{bucket}/*",
                    }
                ],
            }
            s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(anyone_reads))

    def put(self, path: Path, key: str, bucket: str = PUBLIC_BUCKET) -> str:
        """Uploads path as s3://bucket/key; returns that URI. Buckets other than the public
        one are private."""
        self.ensure_bucket(bucket, public=bucket == PUBLIC_BUCKET)
        self.client().upload_file(str(path), bucket, key)
        return f"s3://{bucket}/{key}"

    def reader_key(self, *buckets: str) -> tuple[str, str]:
        """A new IAM user whose policy allows reading the buckets; its access key id and
        secret."""
        iam = self.client("iam")
        user = f"reader-{uuid.uuid4().hex[:8]}"
        iam.create_user(UserName=user)
        key = iam.create_access_key(UserName=user)["AccessKey"]
        read_bucket = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Action": "s3:GetObject",
                    "Resource": [f"arn:aws:s3:::{bucket}/*" for bucket in buckets],
                }
            ],
        }
        iam.put_user_policy(
            UserName=user, PolicyName="read", PolicyDocument=json.dumps(read_bucket)
        )
        return str(key["AccessKeyId"]), str(key["SecretAccessKey"])


def stored(store: ModelStore | None, model: TrainedModel, key: str) -> TrainedModel:
    """model as pods of the cluster reach it: put into the public bucket of the cluster's store;
    a cluster without one (another cluster's kubeconfig) gets the file's own URI."""
    if store is None:
        return model
    # Test processes sharing a cluster (xdist's workers) each keep their own copies.
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if worker:
        key = f"{worker}/{key}"
    return dataclasses.replace(model, stored_at=store.put(model.path, key))
