"""Sphinx extension: resolve references to astrotinyml objects spelled another way.

1. Package-level aliases: the stage functions are re-exported at the top of the package
   (``astrotinyml.write_report`` is ``astrotinyml.report.write_report``) and docstrings use
   both spellings.  The API page documents each object once, under its defining module; a
   reference that finds no target is sent to the object's defining module.
2. Short names used in another module's docstring (``:attr:`Views.scalars``` written in
   ``astrotinyml.modelspec``): resolved when exactly one documented astrotinyml object has
   that dotted suffix.

3. Attributes described in a class's numpydoc ``Attributes`` section (which creates no
   target of its own, e.g. ``:attr:`Views.scalars``` or ``:attr:`status``` inside a method
   of ``BatchResult``): the link goes to the class, whose page describes the attribute.

A reference that still matches nothing, or matches several objects, keeps its warning
(the book is built in nitpicky mode with warnings as errors).
"""

from __future__ import annotations

import importlib


def _canonical(target: str) -> str | None:
    parts = target.split(".")
    if len(parts) < 2 or parts[0] != "astrotinyml":
        return None
    for i in range(len(parts) - 1, 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        try:
            for name in parts[i:]:
                obj = getattr(obj, name)
        except AttributeError:
            return None
        module = getattr(obj, "__module__", None)
        qualname = getattr(obj, "__qualname__", None)
        if module and qualname and f"{module}.{qualname}" != target:
            return f"{module}.{qualname}"
        return None
    return None


def _by_suffix(domain, target: str) -> str | None:
    if not target or target.startswith("astrotinyml."):
        return None
    suffix = "." + target.lstrip("~.")
    hits = [name for name in domain.objects if name.startswith("astrotinyml.") and name.endswith(suffix)]
    return hits[0] if len(hits) == 1 else None


def _import(dotted: str):
    parts = dotted.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        try:
            for name in parts[i:]:
                obj = getattr(obj, name)
        except AttributeError:
            return None
        return obj
    return None


def _described_attribute(cls, attr: str) -> bool:
    import inspect
    import re

    if not inspect.isclass(cls):
        return False
    fields = getattr(cls, "__dataclass_fields__", {}) or {}
    annotations = {}
    for klass in getattr(cls, "__mro__", ()):
        annotations.update(getattr(klass, "__annotations__", {}) or {})
    doc = inspect.getdoc(cls) or ""
    section = doc.split("Attributes\n----------", 1)[1] if "Attributes\n----------" in doc else ""
    listed = re.search(rf"^(?:[\w, ]*\b){re.escape(attr)}\b[\w, ]*(?: :|$)", section, flags=re.M)
    return bool(listed) or attr in fields or attr in annotations


def _class_of_attribute(domain, node, target: str) -> str | None:
    parts = target.lstrip("~.").split(".")
    if len(parts) >= 2:
        owner, attr = ".".join(parts[:-1]), parts[-1]
        owner = owner if owner in domain.objects else (_canonical(owner) or _by_suffix(domain, owner))
    elif node.get("py:class") and node.get("py:module"):
        owner, attr = f"{node['py:module']}.{node['py:class']}", parts[0]
    else:
        return None
    if owner is None or owner not in domain.objects:
        return None
    return owner if _described_attribute(_import(owner), attr) else None


def _missing_reference(app, env, node, contnode):
    if node.get("refdomain") != "py":
        return None
    domain = env.get_domain("py")
    target = node.get("reftarget", "")
    canonical = _canonical(target) or _by_suffix(domain, target)
    reftype = node.get("reftype")
    if canonical is None and reftype in ("attr", "obj"):
        canonical, reftype = _class_of_attribute(domain, node, target), "class"
    if canonical is None:
        return None
    return domain.resolve_xref(env, node.get("refdoc"), app.builder, reftype, canonical, node, contnode)


def setup(app):
    app.connect("missing-reference", _missing_reference)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
