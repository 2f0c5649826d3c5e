"""Bots, the chat engine, conversations, the widget's public API and regression suites."""
