"""The Model Monitor analyzer image for a region (the built-in data-quality container).

One source: `_model_monitor_images.py`, generated from the SageMaker SDK's image-URI registry
(`make model-monitor-images`), so synth never imports the SDK. The URI is untagged, as the
SDK returns it: the registry's current analyzer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from mlops_constructs._model_monitor_images import ANALYZER_IMAGES

_URI = re.compile(r"^(?P<account>\d{12})\.dkr\.ecr\.(?P<region>[a-z0-9-]+)\.[a-z0-9.]+/(?P<repository>[a-z0-9._/-]+)$")


@dataclass(frozen=True)
class AnalyzerImage:
    uri: str
    account: str
    region: str
    repository: str


class UnsupportedRegionError(ValueError):
    """Model Monitor's analyzer is not published in this region."""


def analyzer_image(region: str) -> AnalyzerImage:
    """The analyzer image in `region`, or UnsupportedRegionError listing the regions that have one."""
    uri = ANALYZER_IMAGES.get(region)
    if uri is None:
        raise UnsupportedRegionError(
            f"the Model Monitor analyzer is not published in {region} (regions: {', '.join(sorted(ANALYZER_IMAGES))})"
        )
    match = _URI.match(uri)
    if match is None:  # generated data; a failure here means the generator changed form
        raise ValueError(f"unexpected analyzer image URI {uri}")
    return AnalyzerImage(uri=uri, account=match["account"], region=match["region"], repository=match["repository"])
