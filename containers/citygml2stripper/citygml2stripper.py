#!/usr/bin/env python3
"""Strip a CityGML file of what the 3D Tiles pipeline does not use.

Removed by default: generic attributes (gen:*Attribute, gen:genericAttributeSet) and
appearances (app:appearance, app:appearanceMember), whose texture paths point into the
original archive. On request: building parts (--remove-building-parts) and external
references (--remove-external-references). Geometry and the other attributes are kept,
as are namespace prefixes, so the result stays readable by 3DCityDB's importer.

Works with CityGML 1.0 and 2.0. Prints a JSON summary of what was removed on stdout.
Exit codes: 0 done, 1 unreadable input, 2 bad arguments.
"""

import argparse
import json
import os
import sys
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

# Namespace URIs differ by CityGML version only in their last segment.
GENERICS = ("http://www.opengis.net/citygml/generics/",)
APPEARANCE = ("http://www.opengis.net/citygml/appearance/",)
BUILDING = ("http://www.opengis.net/citygml/building/",)
CORE = {"http://www.opengis.net/citygml/1.0", "http://www.opengis.net/citygml/2.0"}


def split_tag(tag):
    if tag.startswith("{"):
        ns, _, local = tag[1:].partition("}")
        return ns, local
    return "", tag


def in_ns(ns, prefixes):
    return any(ns.startswith(p) for p in prefixes)


def rule_for(tag, opts):
    """The reason to remove an element with this tag, or None to keep it."""
    ns, local = split_tag(tag)
    if in_ns(ns, GENERICS) and (local.endswith("Attribute") or local == "genericAttributeSet"):
        return "generic attributes"
    if opts.appearance and in_ns(ns, APPEARANCE) and local in ("appearance", "appearanceMember"):
        return "appearances"
    if opts.building_parts and in_ns(ns, BUILDING) and local == "consistsOfBuildingPart":
        return "building parts"
    if opts.external_references and ns in CORE and local == "externalReference":
        return "external references"
    return None


def strip(root, opts):
    removed = Counter()
    # Walk parents so children can be dropped; a removed subtree is not visited further.
    stack = [root]
    while stack:
        parent = stack.pop()
        for child in list(parent):
            reason = rule_for(child.tag, opts) if isinstance(child.tag, str) else None
            if reason:
                parent.remove(child)
                removed[reason] += 1
            else:
                stack.append(child)
    return removed


def register_namespaces(path):
    """Keeps the file's own prefixes (ElementTree would otherwise write ns0, ns1...)."""
    seen = {}
    for _, (prefix, uri) in ET.iterparse(path, events=("start-ns",)):
        if prefix not in seen:
            seen[prefix] = uri
            try:
                ET.register_namespace(prefix, uri)
            except ValueError:
                # Prefixes such as ns0 are reserved by ElementTree; it renames them.
                pass
    return seen


def parse_args(argv):
    p = argparse.ArgumentParser(prog="citygml2stripper", description=__doc__.split("\n\n")[0])
    p.add_argument("--input", required=True, type=Path, help="CityGML file to read")
    p.add_argument("--output", required=True, type=Path,
                   help="file to write (its folder is created); may not be the input")
    p.add_argument("--remove-building-parts", dest="building_parts", action="store_true",
                   help="also drop bldg:consistsOfBuildingPart")
    p.add_argument("--remove-external-references", dest="external_references", action="store_true",
                   help="also drop core:externalReference")
    p.add_argument("--keep-appearances", dest="appearance", action="store_false",
                   help="keep app:appearance / app:appearanceMember")
    args = p.parse_args(argv)
    if args.input.resolve() == args.output.resolve():
        p.error("--output must differ from --input")
    return args


def main(argv=None):
    args = parse_args(argv)
    if not args.input.is_file():
        print(f"citygml2stripper: {args.input}: no such file", file=sys.stderr)
        return 1
    try:
        register_namespaces(args.input)
        tree = ET.parse(args.input)
    except ET.ParseError as e:
        print(f"citygml2stripper: {args.input}: not well-formed XML: {e}", file=sys.stderr)
        return 1
    removed = strip(tree.getroot(), args)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.output.with_name(f".{args.output.name}.tmp")
    tree.write(tmp, encoding="UTF-8", xml_declaration=True)
    os.replace(tmp, args.output)
    print(json.dumps({"input": str(args.input), "output": str(args.output), "removed": dict(removed)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
