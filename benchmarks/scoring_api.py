"""The score handler's own overhead per request, against a direct call to the inference server.

One run, interleaved rounds, same server process, same record, one request at a time:
- direct: `POST /invocations` on a kept-alive http.client connection (the floor);
- runtime: invoke.EndpointRuntime.invoke_endpoint, the deployed functions' client (signing,
  its kept-alive Connection), through the test-only adapter (tests/invoke_endpoint_adapter.py:
  the path rewritten to /invocations, the answer shaped as SageMaker Runtime's);
- boto3: the sagemaker-runtime client's invoke_endpoint through the same adapter (real
  serialisation, signing and parsing, local hop): what the handler used before EndpointRuntime;
- handle: `score.handle`, the handler's own code around the runtime call, without Powertools;
- handler: `score.handler` as Lambda calls it (Powertools logger, tracer and metrics
  decorators, API Gateway event parsing, body checks, the runtime call, answer building;
  archive off; the EMF line it prints goes to /dev/null as Lambda's log pipe would take it);
- handler_sdk: the same handler with boto3's client in place of EndpointRuntime;
- archived: the same with the archive on, as prod.yaml ships it: one SQS SendMessage per
  request to a queue on moto's server, run as its own process on this machine (a local
  stand-in for SQS: its latency is moto's, not SQS's; skip with --no-archive).

Reported: P50 and P99 per mode, and the handler/direct P50 ratio (target <= 1.2x). What the
ratio leaves out, on purpose: network to SageMaker and API Gateway, which a direct call to
a SageMaker endpoint pays too. Machine shared with other work: read the spread.
Usage: .venv/bin/python benchmarks/scoring_api.py [--rounds 5 --requests 300] [--no-archive]
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from botocore.credentials import Credentials

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "mlops-bench-api-risk-score")

from lambda_src.scoring_api import score
from lambda_src.scoring_api.archive import Archive
from lambda_src.scoring_api.invoke import EndpointRuntime
from lambda_src.scoring_api.scoring import Scorer
from mlops_cli.model_artifact import FEATURE_NAMES, build, extract
from tests.invoke_endpoint_adapter import LocalEndpointConnection, LocalInvokeEndpoint
from tests.scoring_api_harness import FakeContext, api_event, runtime_client
from tests.serving_fixtures import ROW, server_process

RECORD = {"features": dict(zip(FEATURE_NAMES, ROW, strict=True)), "id": "call-1"}


def _timed(call: Callable[[], object], n: int) -> list[float]:
    out = []
    for _ in range(n):
        start = time.perf_counter()
        call()
        out.append(time.perf_counter() - start)
    return out


@contextlib.contextmanager
def _moto_server() -> Iterator[str]:
    """moto's server in its own process (as SQS is a separate service), answering on a free local port."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
                break
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError("moto server did not start")
            time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)


def _sqs(url: str) -> Any:
    import boto3

    return boto3.client(
        "sqs", region_name="eu-west-1", endpoint_url=url, aws_access_key_id="testing", aws_secret_access_key="testing"
    )


def drain_one(sqs: Any, queue_url: str) -> str:
    """The archive record the handler queued (checks that archiving works before timing it)."""
    [message] = sqs.receive_message(QueueUrl=queue_url).get("Messages", [])
    return str(message["Body"])


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--no-archive", action="store_true", help="leave out the archive-on mode (no moto server)")
    args = parser.parse_args()
    body = json.dumps(RECORD).encode()
    with tempfile.TemporaryDirectory() as work:
        archive = Path(work) / "model.tar.gz"
        build(archive, hidden=(32, 16), rows=4000, epochs=2)
        model_dir = extract(archive, Path(work) / "model")
        with contextlib.ExitStack() as stack:
            port, _ = stack.enter_context(server_process(model_dir))
            sink = stack.enter_context(open(os.devnull, "w"))
            moto_url = None if args.no_archive else stack.enter_context(_moto_server())
            connection = http.client.HTTPConnection("127.0.0.1", port)

            def direct() -> object:
                connection.request("POST", "/invocations", body=body, headers={"Content-Type": "application/json"})
                return json.loads(connection.getresponse().read())

            adapter = LocalInvokeEndpoint(port, variant="champion")
            client = adapter.attach(runtime_client())

            def boto() -> object:
                answer = client.invoke_endpoint(
                    EndpointName="caller-risk", Body=body, ContentType="application/json", Accept="application/json"
                )
                return answer["Body"].read()

            local = LocalEndpointConnection(port, variant="champion")
            fast = EndpointRuntime(runtime_client(), Credentials("testing", "testing", "token"), connection=local)

            def runtime() -> object:
                answer = fast.invoke_endpoint(
                    EndpointName="caller-risk", Body=body, ContentType="application/json", Accept="application/json"
                )
                return answer["Body"].read()

            deps = score.ScoreDependencies(scorer=Scorer(fast, "caller-risk"), max_body_bytes=16384)
            sdk_deps = score.ScoreDependencies(scorer=Scorer(client, "caller-risk"), max_body_bytes=16384)
            score._DEPS[:] = [deps]  # what _dependencies() builds in Lambda, with the adapter's client
            event, context = api_event(body.decode()), FakeContext()
            with contextlib.redirect_stdout(sink):
                check: dict[str, Any] = score.handler(event, context)
            assert check["statusCode"] == 200, check
            assert json.loads(check["body"])["score"] == direct()["risk"]  # type: ignore[index]

            def handle() -> object:
                return score.handle(event, context, deps)

            def handler() -> object:
                score._DEPS[:] = [deps]
                with contextlib.redirect_stdout(sink):
                    return score.handler(event, context)

            def handler_sdk() -> object:
                score._DEPS[:] = [sdk_deps]
                with contextlib.redirect_stdout(sink):
                    return score.handler(event, context)

            modes: dict[str, Callable[[], object]] = {
                "direct": direct,
                "runtime": runtime,
                "boto3": boto,
                "handle": handle,
                "handler": handler,
                "handler_sdk": handler_sdk,
            }
            if moto_url is not None:
                sqs = _sqs(moto_url)
                queue_url = sqs.create_queue(QueueName="bench-archive")["QueueUrl"]
                archived_deps = score.ScoreDependencies(
                    scorer=deps.scorer, max_body_bytes=deps.max_body_bytes, archive=Archive(sqs, queue_url)
                )

                def archived() -> object:
                    score._DEPS[:] = [archived_deps]
                    with contextlib.redirect_stdout(sink):
                        return score.handler(event, context)

                with contextlib.redirect_stdout(sink):
                    assert archived()["statusCode"] == 200  # type: ignore[index]
                record_text = drain_one(sqs, queue_url)

                def send() -> object:  # the bare SendMessage of one archive record: moto's own cost
                    return sqs.send_message(QueueUrl=queue_url, MessageBody=record_text)

                modes["sqs"] = send
                modes["archived"] = archived
            times: dict[str, list[float]] = {name: [] for name in modes}
            for call in modes.values():  # warm-up
                _timed(call, 50)
            for _ in range(args.rounds):
                for name, call in modes.items():
                    times[name] += _timed(call, args.requests)
            adapter.close()
            local.close()
            connection.close()
    p50 = {name: _pct(values, 0.5) for name, values in times.items()}
    rounds = {
        name: [statistics.median(values[i * args.requests : (i + 1) * args.requests]) * 1000 for i in range(args.rounds)]
        for name, values in times.items()
    }
    print(f"{args.rounds} rounds x {args.requests} requests per mode, one at a time (machine shared)")
    print(f"{'mode':8s} {'P50 ms':>8s} {'P99 ms':>8s}  per-round P50 ms")
    for name, values in times.items():
        spread = " ".join(f"{v:.3f}" for v in rounds[name])
        print(f"{name:8s} {p50[name]:8.3f} {_pct(values, 0.99):8.3f}  {spread}")
    print(f"handler / direct at P50: {p50['handler'] / p50['direct']:.2f}x (target <= 1.2x)")
    print(f"runtime / direct at P50: {p50['runtime'] / p50['direct']:.2f}x (EndpointRuntime's call alone)")
    print(f"boto3 / direct at P50:   {p50['boto3'] / p50['direct']:.2f}x (the SDK call alone)")
    print(f"handler_sdk / direct:    {p50['handler_sdk'] / p50['direct']:.2f}x (the handler on boto3's client)")
    print(f"handle / runtime at P50: {p50['handle'] / p50['runtime']:.2f}x (our parsing, checks, answer)")
    print(f"handler / handle at P50: {p50['handler'] / p50['handle']:.2f}x (Powertools decorators, EMF line)")
    print(f"handler overhead at P50: {(p50['handler'] - p50['direct']) * 1000:.0f} µs per request")
    if "archived" in p50:
        print(f"archived / direct at P50: {p50['archived'] / p50['direct']:.2f}x (archive on, as prod ships it)")
        print(f"archive send at P50:      {(p50['archived'] - p50['handler']) * 1000:.0f} µs per request (SQS on local moto)")
        print(f"bare SendMessage at P50:  {p50['sqs'] * 1000:.0f} µs (moto's own cost; real SQS differs)")
        print(
            f"archived - SendMessage:   {(p50['archived'] - p50['sqs']) / p50['direct']:.2f}x direct (the handler without moto)"
        )


if __name__ == "__main__":
    main()
