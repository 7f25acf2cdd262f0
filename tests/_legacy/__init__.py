"""The decoding path before msgspec (cattrs, with a written-out row hook), kept verbatim.

Only as an oracle: a property test checks that the msgspec path decodes every valid
answer to the same values, so the switch changed speed and nothing else.
"""
