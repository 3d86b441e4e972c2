"""Platform adapters: the only code that talks to Telegram, Discord or the terminal."""
