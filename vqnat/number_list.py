"""Comma-separated candidate lists of the options chosen on the valid split (``--lenpen``, ``--scales``)."""
from typing import List


def parse_number_list(text: str, what: str) -> List[float]:
    """``"1.0,1.5,2.0"`` -> [1.0, 1.5, 2.0]: one number or several, distinct; ``what`` names one in errors."""
    values = []
    for item in text.split(","):
        try:
            values.append(float(item))
        except ValueError:
            raise ValueError(f"{item.strip()!r} is not a number (one {what}, or several separated by commas)") \
                from None
    if len(set(values)) != len(values):
        raise ValueError(f"{text!r} names a {what} twice")
    return values
