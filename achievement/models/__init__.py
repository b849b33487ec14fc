from .extracts import Extract, ExtractValue, ManualAnswer

__all__ = ["Extract", "ExtractValue", "ManualAnswer"]
