"""Checkpoints: ``nn.save`` / ``nn.load`` are ``minigrad.save`` / ``minigrad.load`` (see
``minigrad/serialization.py``: nested structures, pickle-free ``.npz``, atomic writes).

``unflatten_state`` reads the flat optimizer checkpoints that earlier versions wrote (keys like
``state.0.exp_avg`` and ``param_groups.0.lr``) back into the nested form."""
from minigrad.serialization import load, save

__all__ = ["save", "load"]


def unflatten_state(flat):
    """Dotted keys -> nested dicts, for optimizer checkpoints written flat by earlier versions:
    digit keys become ints (state is indexed by parameter number) and ``param_groups`` a list."""
    root = {}
    for key, value in flat.items():
        parts = key.split(".")
        node = root
        for part in parts[:-1]:
            node = node.setdefault(int(part) if part.isdigit() else part, {})
            if not isinstance(node, dict):
                raise ValueError(f"unflatten_state: key {key!r} nests under a value")
        last = parts[-1]
        node[int(last) if last.isdigit() else last] = value
    groups = root.get("param_groups")
    if isinstance(groups, dict):
        root["param_groups"] = [groups[i] for i in sorted(groups)]
    root.setdefault("state", {})
    return root
