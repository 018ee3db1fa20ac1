"""A regional WAF web ACL with AWS managed rule groups, for an API Gateway stage.

Cost at these defaults (AWS WAF pricing, us-east-1/eu-west-1 list prices): $5 per web ACL
per month, $1 per rule per month (each managed rule group counts as one rule: 3 here),
$0.60 per million requests inspected: about $8 a month plus $0.60 per million requests. The
three groups use 700 + 200 + 25 = 925 WCUs, under the 1,500 included in the base price.

The common rule set's SizeRestrictions_BODY blocks bodies above 8 KB; it only counts here,
because the API's own limit (payload.max_kb) is enforced by the handler with a clear 413,
and WAF inspects only the first 16 KB of a REST API body anyway.
"""

from __future__ import annotations

from aws_cdk import aws_wafv2 as wafv2
from constructs import Construct

MANAGED_RULE_GROUPS = (
    ("AWSManagedRulesCommonRuleSet", ("SizeRestrictions_BODY",)),
    ("AWSManagedRulesKnownBadInputsRuleSet", ()),
    ("AWSManagedRulesAmazonIpReputationList", ()),
)


def _visibility(name: str) -> wafv2.CfnWebACL.VisibilityConfigProperty:
    return wafv2.CfnWebACL.VisibilityConfigProperty(
        cloud_watch_metrics_enabled=True, metric_name=name, sampled_requests_enabled=True
    )


class RegionalWebAcl(Construct):
    """The web ACL and its association with one API Gateway stage (`stage_arn`)."""

    def __init__(self, scope: Construct, id: str, *, name: str, stage_arn: str) -> None:
        super().__init__(scope, id)
        rules = [
            wafv2.CfnWebACL.RuleProperty(
                name=group,
                priority=priority,
                override_action=wafv2.CfnWebACL.OverrideActionProperty(none={}),
                statement=wafv2.CfnWebACL.StatementProperty(
                    managed_rule_group_statement=wafv2.CfnWebACL.ManagedRuleGroupStatementProperty(
                        vendor_name="AWS",
                        name=group,
                        rule_action_overrides=[
                            wafv2.CfnWebACL.RuleActionOverrideProperty(
                                name=rule, action_to_use=wafv2.CfnWebACL.RuleActionProperty(count={})
                            )
                            for rule in counted
                        ]
                        or None,
                    )
                ),
                visibility_config=_visibility(f"{name}-{group}"),
            )
            for priority, (group, counted) in enumerate(MANAGED_RULE_GROUPS)
        ]
        self.web_acl = wafv2.CfnWebACL(
            self,
            "WebAcl",
            scope="REGIONAL",
            default_action=wafv2.CfnWebACL.DefaultActionProperty(allow={}),
            visibility_config=_visibility(name),
            rules=rules,
            description=f"AWS managed rules in front of {name}",
        )
        self.association = wafv2.CfnWebACLAssociation(
            self, "Association", resource_arn=stage_arn, web_acl_arn=self.web_acl.attr_arn
        )
