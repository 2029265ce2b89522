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
REQUEUED = N_("handoff.requeued")  # her counsellor left (silent, removed): someone else comes
CHANGED = N_("handoff.changed")  # a supervisor gave the conversation to another counsellor
SLOW_DOWN = N_("handoff.slow_down")  # many messages at once: they arrive, more slowly
RELAY_CUT = N_("handoff.relay_cut")  # one very long message: the person got its beginning
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
HELP_SHORT = N_("console.help_short")  # a message that is no command: one short line
HELP_TELEGRAM = N_("console.help_telegram")  # the Telegram topic's commands
HELP_MARKS = N_("console.help_marks")  # after either help: MISSED / FALSEALARM, and consent
BAD_OUTCOME = N_("console.bad_outcome")  # {outcomes}
NOT_REGISTERED = N_("console.not_registered")  # a staff-group member not in the registry
USER_LEFT = N_("console.user_left")  # {id}: the user opted out (STOP) during the handoff
USER_ERASED = N_("console.user_erased")  # {id}: she asked to be forgotten during the handoff
EMERGENCY_FLAG = N_("console.emergency_flag")  # {id}: the safety check fired on her message
POSSIBLE_FLAG = N_("console.possible_flag")  # {id}: the risk model finds her message worrying
WRONG_LANGUAGE = N_("console.wrong_language")  # {id} {language}: she does not speak it
SUPERVISORS_ONLY = N_("console.supervisors_only")  # ASSIGN by a counsellor
UNKNOWN_COUNSELLOR = N_("console.unknown_counsellor")  # {name}: ASSIGN to nobody we know
ASSIGNED = N_("console.assigned")  # {id} {name} {by}
TAKEN_OVER = N_("console.taken_over")  # {id} {name}: to the counsellor who held it
TRANSCRIPT_REFUSED = N_("console.transcript_refused")  # {id}: not hers, not a supervisor
RETURNED_SILENT = N_("console.returned_silent")  # {id} {name} {minutes}
RETURNED_INACTIVE = N_("console.returned_inactive")  # {id} {name}: removed from the registry
RETURNED_UNREACHABLE = N_("console.returned_unreachable")  # {id} {name}: her phone refuses
RELAY_FAILED_USER = N_("console.relay_failed_user")  # {id} {text}: never reached the user
RELAY_FAILED_COUNSELLOR = N_("console.relay_failed_counsellor")  # {id} {name} {text}
STOP_CONFIRM = N_("console.stop_confirm")  # a counsellor wrote STOP: confirm?
STOPPED = N_("console.stopped")  # she confirmed: the last message she gets
STOP_KEPT = N_("console.stop_kept")  # she did not confirm: nothing changes
# MISSED / FALSEALARM (the risk check's review queue): {id} {text}, the masked text kept
MARKED_MISSED = N_("console.marked_missed")  # her message should have raised the alarm
MARKED_FALSE_ALARM = N_("console.marked_false_alarm")  # it should not have
MARK_REFUSED = N_("console.mark_refused")  # {id}: neither her request nor a supervisor
MARK_NOTHING = N_("console.mark_nothing")  # {id}: no message of hers to mark (yet)
STATE = {  # the state word in a topic title
    "queued": N_("console.state.queued"),
    "counsellor": N_("console.state.counsellor"),
    "bot": N_("console.state.bot"),
}
PRIORITY = N_("console.priority")  # the word for an urgent request in titles and notices
