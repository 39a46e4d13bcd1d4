"""vlcat: prompt tuning of CLIP-style models with a gradient optimizer and a local LLM catalyst.

Importing the package has no side effects: no model loads, no threads, no files written.
"""

__version__ = "0.1.0"
