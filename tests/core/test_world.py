from coordinator.campaigns import service as campaigns


async def test_it_launches_a_campaign_to_eligible_members(world):
    cid = await world.campaign()
    result = await campaigns.launch_campaign(world.db, world.actor["coordinator"], cid)
    # province subtree: d1, d2, d3, c1 are linked and in; c_unlinked and b_opted_out are not.
    assert result.created == 4
    again = await campaigns.launch_campaign(world.db, world.actor["coordinator"], cid)
    assert again.created == 0
