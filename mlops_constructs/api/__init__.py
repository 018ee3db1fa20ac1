"""Scoring APIs in front of endpoints: API Gateway, functions, queues, results table, web ACL."""

from mlops_constructs.api.account import ApiGatewayAccountLogging
from mlops_constructs.api.queues import ConsumedQueue
from mlops_constructs.api.results_table import ResultsTable
from mlops_constructs.api.scoring_api import ArchiveTarget, LatencyAlarms, ScoringApi
from mlops_constructs.api.web_acl import RegionalWebAcl

__all__ = [
    "ApiGatewayAccountLogging",
    "ArchiveTarget",
    "ConsumedQueue",
    "LatencyAlarms",
    "RegionalWebAcl",
    "ResultsTable",
    "ScoringApi",
]
