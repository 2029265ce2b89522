"""SMS encoding: folding to GSM-7 and segment counts."""

from bot.gsm7 import encode, fold, is_gsm7


def test_bambara_letters_fold_to_gsm7() -> None:
    assert fold("Kɔnɔmaya ɲɛ ŋaniya") == "Konomaya nye nganiya"
    assert is_gsm7(fold("I ni cɛ! N bɛ i ka ɲininkaliw jaabi."))


def test_french_and_spanish_keep_gsm_accents_and_drop_others() -> None:
    assert fold("é è à ù ñ ¿¡") == "é è à ù ñ ¿¡"
    assert fold("anticoncepción, français, être") == "anticoncepcion, francais, etre"
    assert fold("« l’atelier » – 14\u202fh…") == "\" l'atelier \" - 14 h..."


def test_segments() -> None:
    assert encode("a" * 160).segments == 1
    assert encode("a" * 161).segments == 2
    assert encode("a" * 306).segments == 2
    assert encode("a" * 307).segments == 3
    assert encode("€" * 80).segments == 1  # extension characters count twice
    assert encode("€" * 81).segments == 2


def test_a_106_character_bambara_message_costs_one_segment_once_folded() -> None:
    text = ("N bɛ i ka ɲininkaliw jaabi bangekɔlɔsi, kɔnɔmaya ani dɔrɔgu kan. "
            "A ye fu ye, a ye gundo ye. Sugandi!")
    assert encode(text).encoding == "GSM-7"
    assert encode(text).segments == 1


def test_emoji_keeps_ucs2() -> None:
    encoded = encode("ok 😀")
    assert encoded.encoding == "UCS-2"
    assert encoded.segments == 1
    assert encode("😀" * 36).segments == 2  # surrogate pairs: two code units each
