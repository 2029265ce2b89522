"""What the SMS, Telegram and local input channels share: the services they are given, the
turn runner, the output channel, health and restart recovery.

A channel never builds its services nor imports a feature: the composition root
(:mod:`bot.runtime`) subclasses each channel with ``services``, the factory of the process's
:class:`ChannelServices`, and ``credentials.yml`` names those subclasses.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, ClassVar, Protocol, TypeVar

from rasa.core.channels.channel import InputChannel, OutputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot import rasa_fixes
from bot.channels.inbound import ContactOutput, Gate, KeywordHandler, TurnRunner
from bot.channels.outbound import Outbox
from bot.channels.store import ChannelStore
from bot.settings import ChannelSettings

_C = TypeVar("_C", bound="ProviderInput")


class ChannelServices(Protocol):
    """What a channel needs of its process (:class:`bot.runtime.Runtime`)."""

    @property
    def settings(self) -> ChannelSettings: ...

    @property
    def store(self) -> ChannelStore: ...

    @property
    def outbox(self) -> Outbox: ...

    @property
    def gate(self) -> Gate: ...

    @property
    def staff_chat_id(self) -> int | None: ...

    def runner(self, channel: str, output: Callable[[], OutputChannel]) -> TurnRunner: ...

    def started(self, agent: Any) -> None: ...

    async def record_sms_status(self, sid: str, status: str, error_code: str | None) -> None: ...


class ProviderInput(InputChannel):  # type: ignore[misc]  # Rasa has no type information
    """A channel registered in ``credentials.yml``; subclasses add their webhook routes."""

    channel: ClassVar[str]
    # The process's services, made on the first request (set by bot.runtime's subclasses).
    services: ClassVar[Callable[[], ChannelServices] | None] = None

    def __init__(self, services: Callable[[], ChannelServices]) -> None:
        self._services = services
        self._runtime: ChannelServices | None = None

    @classmethod
    def name(cls) -> str:
        return cls.channel

    @classmethod
    def from_credentials(cls: type[_C], credentials: dict[str, Any] | None) -> _C:
        rasa_fixes.apply()  # Rasa builds its channels once, at start-up
        if cls.services is None:
            raise TypeError(
                f"{cls.__name__} has no services: credentials.yml names the channels of "
                "bot.runtime (bot.runtime.SmsChannel...), which have them"
            )
        return cls(cls.services)  # everything comes from the environment (bot.settings)

    @property
    def runtime(self) -> ChannelServices:
        if self._runtime is None:
            self._runtime = self._services()
        return self._runtime

    @property
    def ready(self) -> bool:
        """Every secret the channel needs is set; otherwise its webhook answers 503."""
        raise NotImplementedError

    def runner(self) -> TurnRunner:
        return self.runtime.runner(self.channel, self.get_output_channel)

    def get_output_channel(self) -> ContactOutput:
        return ContactOutput(self.channel, self.runtime.outbox)

    def new_blueprint(
        self,
        on_new_message: Callable[[UserMessage], Awaitable[Any]],
        keyword: KeywordHandler | None = None,
    ) -> Blueprint:
        """The blueprint with the health route, and at server start the channel's turn
        runner bound (it also runs what another instance stored) and recovery started."""
        hook = Blueprint(f"{self.channel}_webhook", __name__)

        @hook.listener("after_server_start")  # type: ignore[misc]  # sanic 21's decorator types
        async def start(app: Any, loop: Any) -> None:
            if self.ready:
                agent = getattr(app.ctx, "agent", None)
                self.runner().bind(on_new_message, agent, keyword)
                self.runtime.started(agent)

        @hook.route("/", methods=["GET"])  # type: ignore[misc]  # sanic 21's decorator types
        async def health(request: Request) -> HTTPResponse:
            return response.json({"status": "ok" if self.ready else "off"})

        return hook
