"""meter2cash — open-source meter-to-cash for electric utilities (抄核收)."""

__version__ = "0.1.0"
