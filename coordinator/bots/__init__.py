"""The Telegram side: the bot's handlers, the outbox and its sender, updates, message texts."""
