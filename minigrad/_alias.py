"""Give a package a second import name (``minigrad.nn`` for ``nn``), sharing the module objects."""
import sys


def alias_package(alias, package):
    """Register ``package`` and its loaded submodules under ``alias`` in ``sys.modules``.

    Called from the module named ``alias`` while it is being imported: the import system then binds
    ``sys.modules[alias]``, i.e. ``package`` itself."""
    sys.modules[alias] = package
    prefix = package.__name__ + "."
    for name, module in list(sys.modules.items()):
        if name.startswith(prefix):
            sys.modules[alias + "." + name[len(prefix):]] = module
