"""Load YAML documents the way cloud-init does and print the outcome.

Reads one base64-encoded document per line on stdin and writes one JSON
object per line: {"ok": true} or {"ok": false, "line": L, "column": C,
"problem": "..."}, with 1-based line and column when PyYAML reports a mark.
Uses cloud-init's own loader (cloudinit.safeyaml.load, PyYAML's SafeLoader
plus the python/unicode tag) when cloud-init is installed, and
yaml.safe_load otherwise.
"""
import base64
import json
import sys

import yaml

try:
    from cloudinit.safeyaml import load
    LOADER = "cloudinit.safeyaml.load"
except ImportError:
    load = yaml.safe_load
    LOADER = "yaml.safe_load"


def check(doc):
    try:
        load(doc)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        out = {"ok": False, "problem": str(e.problem or e.context)}
        if mark is not None:
            out["line"] = mark.line + 1
            out["column"] = mark.column + 1
        return out
    except (yaml.YAMLError, ValueError, TypeError, KeyError, AttributeError,
            IndexError, RecursionError, OverflowError) as e:
        return {"ok": False, "problem": "%s: %s" % (type(e).__name__, e)}
    return {"ok": True}


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--loader":
        print(LOADER)
        return
    for line in sys.stdin:
        data = base64.b64decode(line.strip())
        try:
            doc = data.decode("utf-8")
        except UnicodeDecodeError as e:
            result = {"ok": False, "problem": "invalid UTF-8: %s" % e}
        else:
            result = check(doc)
        sys.stdout.write(json.dumps(result) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
