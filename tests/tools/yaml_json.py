"""Prints the YAML documents of the given files as one JSON list of {"file", "doc"}, for the
deployment tests (PyYAML, an independent parser)."""

import json
import sys

import yaml

out = []
for path in sys.argv[1:]:
    with open(path) as f:
        for doc in yaml.safe_load_all(f):
            if doc is not None:
                out.append({"file": path, "doc": doc})
json.dump(out, sys.stdout)
