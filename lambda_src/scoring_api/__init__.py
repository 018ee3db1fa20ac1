"""A scoring API in front of a SageMaker endpoint: the Lambda handlers behind API Gateway.

One folder, one asset: `score` (synchronous), `submit` and `status` (asynchronous, by
tracking id), `worker` (SQS -> endpoint -> DynamoDB) and `archiver` (SQS -> S3). Each
handler module is thin (Powertools logging, tracing and metrics around one plain function
that takes its clients as arguments); the logic lives in `scoring`, `tracking` and
`archive`, which need nothing but the Lambda runtime's boto3.
"""
