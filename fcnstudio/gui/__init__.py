"""PyQt6 widgets: thin, they show core/train state and send intents."""
