"""The Claude adapter, the only importer of ``anthropic``.

Prompts, tools, output parsing, the token budget and recorded exchanges.
"""
