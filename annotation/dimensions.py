"""What a study asks about one image: a dimension's key, label, question and anchor text.

A small domain piece below both the services that create studies and the import layouts
that describe a published database's dimensions, so neither reaches up into the other.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class DimensionSpec:
    key: str
    label: str
    question: str
    anchor_text: str = ""
