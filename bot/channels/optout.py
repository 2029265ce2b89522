"""The opt-out words of SMS, in the three languages, and how a whole message is compared.

Twilio only knows English keywords (FACTS.md), so ours are here: a whole message STOP /
ARRET / BAJA / PARAR / DABILA (Bambara "dabila", to stop or give up) stops every message;
START / DEMARRER / ALTA / DAMINE (Bambara "daminɛ", to begin) resumes; HELP / AIDE / AYUDA /
DEME (Bambara "dɛmɛ", help) says how to stop. The SMS channel applies them to users; the
counsellors' console reads the same words from counsellors (a STOP there asks first).
CANCEL is not an opt-out word here: a young mother answering "cancel" to a workshop reminder
means her booking.
"""

from __future__ import annotations

import re
import unicodedata

# Whole-message keywords, compared without accents or punctuation, upper case.
STOP_WORDS = {
    "STOP": None, "STOPALL": None, "UNSUBSCRIBE": None, "END": None, "QUIT": None,
    "ARRET": "fr", "ARRETER": "fr", "STOPPER": "fr", "DESABONNER": "fr",
    "BAJA": "es", "PARAR": "es", "ALTO": "es",
    "DABILA": "bm",
}  # fmt: skip
START_WORDS = {"START": None, "UNSTOP": None, "DEMARRER": "fr", "ALTA": "es", "DAMINE": "bm"}
HELP_WORDS = {"HELP": None, "INFO": None, "AIDE": "fr", "AYUDA": "es", "DEME": "bm"}


def keyword(text: str | None) -> str:
    """``"Arrêt !"`` -> ``"ARRET"``, ``"Jɔsi"`` -> ``"JOSI"``: a whole message compared to
    the keyword lists."""
    folded = unicodedata.normalize("NFKD", text or "")
    folded = "".join(c for c in folded if not unicodedata.combining(c))
    for letter, plain in (("ɛ", "e"), ("ɔ", "o"), ("ɲ", "ny"), ("ŋ", "ng")):  # Bambara letters
        folded = folded.replace(letter, plain).replace(letter.upper(), plain.upper())
    return re.sub(r"[^A-Za-z]", "", folded).upper()
