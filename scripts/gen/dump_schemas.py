"""Dump ATen operator schemas from the torch installation's own native_functions.yaml as JSON.

Used by scripts/gen-ops.js; run with the Python whose torch the addon is built against, so the
generated bindings match that libtorch exactly.
"""
import json
import os
import sys

import torch
import torchgen
import torchgen.model as model
import yaml


def argument(a, kwarg_only):
    return {
        "name": a.name,
        "type": str(a.type),
        "default": a.default,
        "kwargOnly": kwarg_only,
        "mutable": bool(a.annotation and a.annotation.is_write),
    }


def main():
    path = os.path.join(os.path.dirname(torchgen.__file__), "packaged", "ATen", "native", "native_functions.yaml")
    with open(path) as f:
        entries = yaml.load(f, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    ops = []
    for e in entries:
        schema = model.FunctionSchema.parse(e["func"])
        args = schema.arguments
        positional = list(args.pre_self_positional) + ([args.self_arg.argument] if args.self_arg else []) + list(args.post_self_positional)
        kwarg_only = list(args.pre_tensor_options_kwarg_only)
        if args.tensor_options is not None:
            t = args.tensor_options
            kwarg_only += [t.dtype, t.layout, t.device, t.pin_memory]
        kwarg_only += list(args.post_tensor_options_kwarg_only)
        out = list(args.out)
        ops.append({
            "name": str(schema.name.name),
            "overload": schema.name.overload_name,
            "schema": e["func"],
            "variants": [v.strip() for v in e.get("variants", "function").split(",")],
            "kind": str(schema.kind().name),
            "arguments": [argument(a, False) for a in positional] + [argument(a, True) for a in kwarg_only + out],
            "returns": [{"name": r.name, "type": str(r.type)} for r in schema.returns],
            "tags": e.get("tags", []) if isinstance(e.get("tags", []), list) else [e["tags"]],
        })
    json.dump({"torchVersion": torch.__version__, "operators": ops}, sys.stdout, indent=None)


if __name__ == "__main__":
    main()
