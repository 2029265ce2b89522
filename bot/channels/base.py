"""What the SMS and Telegram input channels share: settings from the environment, the one
runtime of the process, the turn runner, the output channel, health and restart recovery."""

from __future__ import annotations

from typing import Any, ClassVar, TypeVar

from rasa.core.channels.channel import InputChannel
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot import rasa_fixes
from bot.channels.inbound import ContactOutput, TurnRunner
from bot.channels.runtime import Runtime, runtime_from_env

_C = TypeVar("_C", bound="ProviderInput")


class ProviderInput(InputChannel):
    """A channel registered in ``credentials.yml``; subclasses add their webhook routes."""

    channel: ClassVar[str]

    def __init__(self, runtime: Runtime | None = None) -> None:
        self._runtime = runtime

    @classmethod
    def name(cls) -> str:
        return cls.channel

    @classmethod
    def from_credentials(cls: type[_C], credentials: dict[str, Any] | None) -> _C:
        rasa_fixes.apply()  # Rasa builds its channels once, at start-up
        return cls()  # everything comes from the environment (bot.channels.config)

    @property
    def runtime(self) -> Runtime:
        if self._runtime is None:
            self._runtime = runtime_from_env()
        return self._runtime

    @property
    def ready(self) -> bool:
        """Every secret the channel needs is set; otherwise its webhook answers 503."""
        raise NotImplementedError

    def runner(self) -> TurnRunner:
        return self.runtime.runner(self.channel, self.get_output_channel)

    def get_output_channel(self) -> ContactOutput:
        return ContactOutput(self.channel, self.runtime.outbox)

    def new_blueprint(self) -> Blueprint:
        """The blueprint with the health route and the recovery at server start."""
        hook = Blueprint(f"{self.channel}_webhook", __name__)

        @hook.listener("after_server_start")
        async def recover(app: Any, loop: Any) -> None:
            if self.ready:
                self.runtime.started(getattr(app.ctx, "agent", None))
                self.runner().start_recovery()

        @hook.route("/", methods=["GET"])
        async def health(request: Request) -> HTTPResponse:
            return response.json({"status": "ok" if self.ready else "off"})

        return hook
