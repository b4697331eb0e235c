"""The ops: one family per file, each a set of ``Function`` classes with hand-derived backwards."""
