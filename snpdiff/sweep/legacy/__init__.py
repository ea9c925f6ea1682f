"""The old tool's sweep files: the one room that knows its flat names, its retired features and its training script.

``aliases`` holds the table and translates an old file for ``init`` (old files run unchanged, with warnings);
``migrate`` rewrites one as the equivalent current file (``sweep.py migrate OLD.yaml -o NEW.yaml``).
"""
