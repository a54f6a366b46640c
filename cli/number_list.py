"""The click type of the candidate lists chosen on the valid split (``--lenpen``, ``--scales``)."""
import click


class NumberList(click.ParamType):
    """One number or several, comma-separated; ``what`` names one in errors."""

    name = "FLOAT[,FLOAT...]"

    def __init__(self, what: str):
        self.what = what

    def convert(self, value, param, ctx):
        if isinstance(value, list):
            return value
        from vqnat.number_list import parse_number_list

        try:
            return parse_number_list(str(value), self.what)
        except ValueError as error:
            self.fail(str(error), param, ctx)
