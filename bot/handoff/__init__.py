"""Counsellor handoff: who owns a conversation (``ownership``); relays and consoles to come."""
