"""Typed app keys of the screen pops (set by ``cti.web.pops_setup``, ORIGINATOR by the root)."""

from __future__ import annotations

from aiohttp import web

from crmlite.domain.phones import PhoneRules
from cti.fencing import ConsumerFence
from cti.pops.click_to_call import ClickToCall, Originator
from cti.pops.service import PopService

POP_SERVICE = web.AppKey("pop_service", PopService)
CLICK_TO_CALL = web.AppKey("click_to_call", ClickToCall)
PHONE_RULES = web.AppKey("phone_rules", PhoneRules)
# The AMI link that places click-to-call Originates (an ``AmiClient``); unset: no PBX.
ORIGINATOR: web.AppKey[Originator] = web.AppKey("originator")
# With several PBXs, each one's originate link by its configured name: a click-to-call rings
# from the PBX of the identity it dials from (ORIGINATOR is the first PBX's).
ORIGINATORS: web.AppKey[dict[str, Originator]] = web.AppKey("originators")
# Which PBXs this instance acts for (set by the root; leased by the telephony side).
CONSUMER_FENCE = web.AppKey("consumer_fence", ConsumerFence)
