"""Campaigns' public functions in one namespace, for the many callers that use `campaigns.X`.

The code lives by responsibility: `drafting` (the draft, its content and targets), `lifecycle`
(schedule, launch, close, cancel), `reading` (lists, details, target choices) and `party_rule`
(a campaign reaches only its agreement's parties). New code imports those modules directly.
"""

from __future__ import annotations

from coordinator.campaigns.drafting import (
    CONTENT_KINDS,
    CampaignDraft,
    add_content_item,
    create_campaign,
    update_campaign,
)
from coordinator.campaigns.lifecycle import (
    LaunchResult,
    cancel_campaign,
    close_campaign,
    launch_campaign,
    schedule_campaign,
)
from coordinator.campaigns.reading import (
    CampaignDetail,
    TargetChoice,
    TargetChoices,
    agreements_for_new_campaigns,
    audience_of,
    check_content_url,
    get_campaign,
    list_campaigns,
    target_choices,
)
from coordinator.campaigns.targeting import set_targets

__all__ = [
    "CONTENT_KINDS",
    "CampaignDetail",
    "CampaignDraft",
    "LaunchResult",
    "TargetChoice",
    "TargetChoices",
    "add_content_item",
    "agreements_for_new_campaigns",
    "audience_of",
    "cancel_campaign",
    "check_content_url",
    "close_campaign",
    "create_campaign",
    "get_campaign",
    "launch_campaign",
    "list_campaigns",
    "schedule_campaign",
    "set_targets",
    "target_choices",
    "update_campaign",
]
