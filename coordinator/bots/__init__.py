"""The Telegram side: outbox, sender, handlers (the bot itself arrives with the Telegram issue)."""
