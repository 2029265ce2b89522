"""When the conversation language is set, kept and changed."""

from bot.i18n.language import (
    SWITCH_AFTER,
    LanguageState,
    is_clear,
    named_language,
    next_state,
)


def test_first_clear_message_sets_the_language() -> None:
    assert next_state(LanguageState(), "hola quiero saber", "es", 0.95).language == "es"


def test_ambiguous_first_message_leaves_it_unset() -> None:
    for text in ("ok", "1", "👍", "si", "???"):
        assert next_state(LanguageState(), text, "fr", 0.9).language is None


def test_short_ambiguous_messages_never_flip_it() -> None:
    state = LanguageState("bm")
    for text in ("ok", "1", "👍", "no", "si", "oui", "lol", "4"):
        state = next_state(state, text, "fr", 0.99)
        assert state == LanguageState("bm")


def test_one_message_in_another_language_does_not_switch() -> None:
    state = next_state(LanguageState("fr"), "quiero saber del implante", "es", 0.95)
    assert state.language == "fr"
    assert state.candidate == "es"


def test_several_clear_messages_in_a_row_switch() -> None:
    state = LanguageState("fr")
    for _ in range(SWITCH_AFTER):
        state = next_state(state, "quiero saber del implante", "es", 0.95)
    assert state == LanguageState("es")


def test_a_message_in_the_current_language_resets_the_streak() -> None:
    state = next_state(LanguageState("fr"), "quiero saber del implante", "es", 0.95)
    state = next_state(state, "je veux parler a quelqu un", "fr", 0.95)
    state = next_state(state, "quiero saber del implante", "es", 0.95)
    assert state.language == "fr"


def test_ambiguous_messages_do_not_break_a_streak_either() -> None:
    state = next_state(LanguageState("fr"), "quiero saber del implante", "es", 0.95)
    state = next_state(state, "ok", "fr", 0.6)
    state = next_state(state, "y donde lo consigo", "es", 0.9)
    assert state.language == "es"


def test_low_confidence_does_not_count() -> None:
    assert next_state(LanguageState("fr"), "atelier samedi", "bm", 0.5) == LanguageState("fr")


def test_asking_switches_at_once() -> None:
    assert next_state(LanguageState("fr"), "bamanankan", "fr", 0.6, asked_for="bm") == (
        LanguageState("bm")
    )


def test_named_language() -> None:
    assert named_language("en français stp") == "fr"
    assert named_language("Francais") == "fr"
    assert named_language("quiero en español") == "es"
    assert named_language("espanol porfa") == "es"
    assert named_language("an ka bamanankan kɛ") == "bm"
    assert named_language("bambara") == "bm"
    assert named_language("francais ou espagnol") is None  # two named: ask
    assert named_language("cambiar idioma") is None


def test_is_clear() -> None:
    assert is_clear("gracias", 0.9)
    assert not is_clear("ok", 0.99)
    assert not is_clear("ok ok", 0.99)
    assert not is_clear("no", 0.99)
    assert not is_clear("2", 0.99)
    assert not is_clear("gracias", 0.4)
