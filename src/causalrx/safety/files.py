"""Reading rule and vocabulary YAML files with line numbers, refusing duplicate keys."""

from __future__ import annotations

from typing import Any

import yaml

from causalrx.exceptions import ValidationError


class Located(dict):
    """A mapping read from YAML that remembers the line it starts on."""

    line: int = 0


class _LineLoader(yaml.SafeLoader):
    pass


def _construct_mapping(loader, node):
    loader.flatten_mapping(node)
    seen: dict = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=True)
        if key in seen:
            raise ValidationError(f"{loader.name}:{key_node.start_mark.line + 1}: duplicate key {key!r} "
                                  f"(first given on line {seen[key]}); each key may appear once in a mapping")  # fmt: skip
        seen[key] = key_node.start_mark.line + 1
    mapping = Located(loader.construct_mapping(node, deep=True))
    mapping.line = node.start_mark.line + 1
    return mapping


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def read_yaml(path) -> Any:
    """Parse a YAML file (a ``Path`` or an importlib resource) into mappings that carry their line."""
    loader = _LineLoader(path.read_text())
    loader.name = str(path)
    try:
        return loader.get_single_data()
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        raise ValidationError(f"{where}: not valid YAML ({getattr(err, 'problem', err)})") from err
    finally:
        loader.dispose()
