"""The embedded offline world: procedurally drawn coloured shapes with captions, classification tasks over
them written in CoOp's layout (``dataset.build_synth_dataset``; five tasks and four domain shifts make the
offline benchmark suite, ``tasks.py``), and the toy CLIP pretrained on them
(``vlcat-toy``), so that everything in vlcat runs with no download. Importing it draws and loads nothing.
"""
