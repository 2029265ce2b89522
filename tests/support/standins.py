"""The local Twilio REST API and Telegram Bot API the real clients talk to in the tests."""

from __future__ import annotations

from dataclasses import dataclass

from bot.settings import ChannelSettings
from bot.standins.telegram import TelegramStandIn
from bot.standins.twilio import TwilioStandIn
from tests.support.env import CHANNEL_ENV


@dataclass
class StandIns:
    twilio: TwilioStandIn
    telegram: TelegramStandIn

    def settings(self) -> ChannelSettings:
        """The sandbox's channel settings, with the real clients pointed at these stand-ins."""
        return ChannelSettings(
            pseudonym_key=CHANNEL_ENV["PSEUDONYM_KEY"].encode(),
            twilio_account_sid=CHANNEL_ENV["TWILIO_ACCOUNT_SID"],
            twilio_auth_token=CHANNEL_ENV["TWILIO_AUTH_TOKEN"],
            twilio_from=CHANNEL_ENV["TWILIO_FROM_NUMBER"],
            twilio_api_base_url=self.twilio.base_url,
            telegram_token=CHANNEL_ENV["TELEGRAM_BOT_TOKEN"],
            telegram_secret=CHANNEL_ENV["TELEGRAM_WEBHOOK_SECRET"],
            telegram_api_base_url=self.telegram.base_url,
        )
