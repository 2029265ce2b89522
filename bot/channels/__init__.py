"""The SMS and Telegram channels: webhooks, sending, and what they keep in the database."""
