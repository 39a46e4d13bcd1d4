"""Pretrain the embedded toy CLIP (vlcat-toy) and write its assets: ``python tools/pretrain_toy_clip.py``;
``--distill-from vlcat/synth/assets`` distils the ViT toy (vlcat-toy-vit) from it.

The command is ``vlcat.cli.toy_pretrain.main`` (help: ``--help``); this script only calls it."""

import sys

from vlcat.cli.toy_pretrain import main

if __name__ == "__main__":
    sys.exit(main())
