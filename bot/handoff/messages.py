"""The handoff's sentences, as catalog keys (texts in ``locales/<lang>/.../messages.po``).

User notices are rendered in the user's language; console messages in the counsellor's first
language. Placeholders are named in the comment beside each key.
"""

from __future__ import annotations

from bot.i18n import N_

# To the user ------------------------------------------------------------------------------
QUEUED = N_("handoff.queued")  # {position}: asked, a counsellor is on duty
WAITING = N_("handoff.waiting")  # {position}: she writes while queued (at most every few min)
OFFLINE = N_("handoff.offline")  # {when}: nobody on duty; when counsellors are back
OFFLINE_UNKNOWN = N_("handoff.offline_unknown")  # nobody on duty and no hours known
JOINED = N_("handoff.joined")  # a counsellor took the conversation
BACK_TO_BOT = N_("handoff.back_to_bot")  # the counsellor handed the conversation back
NOBODY_FREE = N_("handoff.nobody_free")  # nobody claimed it in time: back to the bot
IDLE_CLOSED = N_("handoff.idle_closed")  # silent too long: closed
MEDIA_NOT_RELAYED = N_("handoff.media_not_relayed")  # a photo, voice note, file: only text goes
FOLLOWUP = {  # sent after BACK_TO_BOT for these outcomes
    "referred": N_("handoff.followup.referred"),
    "booked": N_("handoff.followup.booked"),
}

# To the counsellor (consoles) -------------------------------------------------------------
NEW_REQUEST_SMS = N_("console.new_sms")  # {id} {language} {priority} {summary}
TOPIC_INTRO = N_("console.topic_intro")  # {id} {language} {channel} {reason} {transcript}
RENOTIFY = N_("console.renotify")  # {id} {minutes}
CLAIMED = N_("console.claimed")  # {id} {name}
RELEASED = N_("console.released")  # {id}
CLOSED = N_("console.closed")  # {id} {outcome}
HELD_BY_OTHER = N_("console.held_by_other")  # {id} {name}
CLAIM_FIRST = N_("console.claim_first")  # {id}
UNKNOWN_REQUEST = N_("console.unknown_request")  # {id}
NOT_OPEN = N_("console.not_open")  # {id}: already back with the bot
HELP_SMS = N_("console.help_sms")  # the SMS/local console's commands
HELP_TELEGRAM = N_("console.help_telegram")  # the Telegram topic's commands
BAD_OUTCOME = N_("console.bad_outcome")  # {outcomes}
NOT_REGISTERED = N_("console.not_registered")  # a staff-group member not in the registry
USER_LEFT = N_("console.user_left")  # {id}: the user opted out (STOP) during the handoff
EMERGENCY_FLAG = N_("console.emergency_flag")  # {id}: the safety check fired on her message
STATE = {  # the state word in a topic title
    "queued": N_("console.state.queued"),
    "counsellor": N_("console.state.counsellor"),
    "bot": N_("console.state.bot"),
}
PRIORITY = N_("console.priority")  # the word for an urgent request in titles and notices
