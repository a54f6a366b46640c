"""The click type of the candidate lists chosen on the valid split (``--lenpen``, ``--scales``,
``--latent-beams``)."""
import click


class NumberList(click.ParamType):
    """One number or several, comma-separated; ``what`` names one in errors, ``metavar`` shows the kind in help."""

    def __init__(self, what: str, metavar: str = "FLOAT[,FLOAT...]"):
        self.what = what
        self.name = metavar

    def convert(self, value, param, ctx):
        if isinstance(value, list):
            return value
        from vqnat.number_list import parse_number_list

        try:
            return parse_number_list(str(value), self.what)
        except ValueError as error:
            self.fail(str(error), param, ctx)
