"""Renderers for replay results: terminal, JSON, Markdown and a self-contained HTML page."""
