"""A Telegram Bot API emulator on loopback, for tests, benchmarks, demos and training."""
