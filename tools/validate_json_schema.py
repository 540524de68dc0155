#!/usr/bin/env python3
"""Validates generated JSON against JSON schemas with the Python `jsonschema`
package (Draft 2020-12), as a second opinion beside the C++ validator in
tests/generate/json_schema_test.cpp, which calls this script.

Usage: validate_json_schema.py CASES.json
CASES.json: [{"schema": {...}, "outputs": ["<generated text>", ...]}, ...]
Exit status: 0 all valid; 1 some output does not parse or validate (each is
printed); 3 the jsonschema package is missing (pip install jsonschema).
"""
import importlib.metadata
import json
import sys

try:
    import jsonschema
except ImportError:
    print("validate_json_schema.py: the Python package jsonschema is missing (pip install jsonschema)", file=sys.stderr)
    sys.exit(3)


def main() -> int:
    with open(sys.argv[1], encoding="utf-8") as f:
        cases = json.load(f)
    bad = 0
    checked = 0
    for case in cases:
        validator = jsonschema.Draft202012Validator(case["schema"])
        for text in case["outputs"]:
            checked += 1
            try:
                value = json.loads(text)
            except json.JSONDecodeError as e:
                print(f"not JSON ({e}): {text!r}")
                bad += 1
                continue
            errors = list(validator.iter_errors(value))
            for e in errors:
                print(f"invalid at {list(e.absolute_path)}: {e.message}: {text!r}")
            bad += bool(errors)
    print(f"{checked - bad} of {checked} outputs valid (jsonschema {importlib.metadata.version('jsonschema')})")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
