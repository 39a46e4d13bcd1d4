"""Exchange with code outside vlcat: the authors' Dassl checkpoints in, plain open_clip classifiers out.

Researchers compare the released CoOp/CoCoOp/KgCoOp/ProGrad prompt learners with their own runs, and hand
tuned prompts to people who only have open_clip; both directions go through run folders, so an imported
checkpoint is evaluated and reported like any other run (:mod:`vlcat.interop.importer`) and an export reads
only what a finished run holds (:mod:`vlcat.interop.export`).
"""
