"""The one family of "the rules say no": views turn it into a message for the person."""


class Refused(Exception):
    """An action the domain rules refuse now; the message tells the person why."""
