"""S3 reads for the labelling Lambdas: s3:// URIs, UTF-8 text, clear errors.

The objects are SSE-KMS encrypted with the platform's data key; S3 decrypts them for a
caller whose role may use the key (kms:Decrypt), so nothing here handles keys.
"""

from __future__ import annotations

from typing import Any, Protocol


class S3Client(Protocol):
    def get_object(self, **kwargs: Any) -> dict[str, Any]: ...


class S3ReadError(ValueError):
    """An object could not be read as the Lambda needs it; the message names the URI."""


def split_s3_uri(uri: str) -> tuple[str, str]:
    """('bucket', 'key') of `s3://bucket/key`."""
    if not isinstance(uri, str) or not uri.startswith("s3://"):
        raise S3ReadError(f"expected an s3://bucket/key URI, got {uri!r}")
    bucket, _, key = uri[len("s3://") :].partition("/")
    if not bucket or not key:
        raise S3ReadError(f"expected an s3://bucket/key URI, got {uri!r}")
    return bucket, key


def read_text(s3: S3Client, uri: str, *, max_bytes: int) -> str:
    """The object's content as UTF-8 text (a leading byte-order mark is dropped)."""
    bucket, key = split_s3_uri(uri)
    try:
        response = s3.get_object(Bucket=bucket, Key=key)
    except Exception as error:  # botocore's ClientError and connection errors alike
        raise S3ReadError(f"cannot read {uri}: {error}") from error
    size = int(response.get("ContentLength", 0))
    if size > max_bytes:
        raise S3ReadError(f"{uri} is {size} bytes; at most {max_bytes} are read")
    body = response["Body"].read()
    try:
        return str(body.decode("utf-8-sig"))
    except UnicodeDecodeError as error:
        raise S3ReadError(f"{uri} is not UTF-8 text (byte {error.start})") from None
