"""Thin rasa-sdk actions: read slots, call a service in ``bot``, return events.

One module per feature: ``menu`` (numbered menus, fallback), ``language`` (conversation
language), ``session`` (what a new session keeps).
"""
