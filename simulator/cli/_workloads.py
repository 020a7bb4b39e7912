"""``lowbit workloads``: the registered workloads, and ``workloads show NAME``: every field of
one with its source, what it lowers to (the GEMMs) and what it keeps in memory."""

from __future__ import annotations

import dataclasses

from ._display import exact

__all__ = ["describe", "list_table", "register"]


def describe(name: str, *, batch: int = 1, context: int = 2048) -> dict:
    """Every field of a registered workload, with its source, and its GEMMs.

    Args:
        name: a workload name (``simulator.workloads.names()``).
        batch, context: as :func:`simulator.workloads.get`.

    Returns:
        A dict: ``name``, ``fields`` (list of dicts ``field``, ``value``, ``source``: the model's
        shape from its published config, the phase, batch and context from the request),
        ``derived`` (parameters, tokens, resident elements) and ``gemms`` (a DataFrame: name,
        kind, m, k, n, count, b operand, MACs).

    Raises:
        ValueError: unknown name (the message lists the names), bad batch or context.
    """
    import pandas as pd

    from .. import workloads

    wl = workloads.get(name, batch=batch, context=context)
    cfg = wl.config
    fields = []
    for f in dataclasses.fields(cfg):
        if f.name in ("name", "source"):
            continue
        fields.append({"field": f.name, "value": getattr(cfg, f.name),
                       "source": cfg.source or "the model's config"})
    fields += [
        {"field": "phase", "value": wl.phase, "source": "the workload name"},
        {"field": "batch", "value": wl.batch, "source": "--batch (default 1)"},
        {"field": "context", "value": wl.context,
         "source": "--context (default 2048): " + ("prompt tokens" if wl.phase == "prefill"
                                                   else "tokens already in the KV cache")},
    ]
    mem = wl.memory()
    derived = {"parameters": cfg.parameters, "tokens this pass": wl.tokens,
               "weight elements": mem["weights"], "KV-cache elements": mem["kv_cache"],
               "largest activation (elements)": mem["activations"]}
    gemms = pd.DataFrame([{"name": g.name, "kind": g.kind, "m": g.m, "k": g.k, "n": g.n,
                           "count": g.count, "b": g.b_operand, "MACs": g.macs}
                          for g in wl.layers()])
    return {"name": wl.name, "model": cfg.name, "fields": fields, "derived": derived, "gemms": gemms}


def list_table():
    """One row per registered workload: its model's shape and source."""
    import pandas as pd

    from .. import workloads

    rows = []
    for n in workloads.names():
        wl = workloads.get(n)
        c = wl.config
        rows.append({"name": n, "phase": wl.phase, "parameters": f"{c.parameters / 1e9:.3g} G",
                     "layers": c.layers, "hidden": c.hidden, "heads / kv": f"{c.heads} / {c.kv_heads}",
                     "mlp": c.intermediate, "vocab": c.vocab, "source": c.source})
    return pd.DataFrame(rows)


def register(sub) -> None:
    p = sub.add_parser(
        "workloads", help="list workloads, or `workloads show NAME` with every field and its source",
        description="Without arguments: every registered workload with its model's shape and "
                    "source. `workloads show NAME`: every field with its source, the GEMMs it "
                    "lowers to (a = activations m×k, b = k×n) and its resident memory.")
    p.add_argument("action", nargs="?", choices=["show"], help="show one workload in full")
    p.add_argument("name", nargs="?", help="workload name (with `show`)")
    p.add_argument("--batch", type=int, default=1, help="sequences (default 1)")
    p.add_argument("--context", type=int, default=2048, help="context length (default 2048)")
    p.set_defaults(func=_main)


def _main(args) -> int:
    import pandas as pd

    for opt in ("batch", "context"):
        if getattr(args, opt) < 1:
            raise ValueError(f"--{opt} must be >= 1, got {getattr(args, opt)}")
    if args.action == "show":
        if not args.name:
            raise ValueError("`lowbit workloads show` needs a workload NAME (see `lowbit workloads`)")
        d = describe(args.name, batch=args.batch, context=args.context)
        print(f"{d['name']} (model {d['model']})\n")
        fw = max(len(f["field"]) for f in d["fields"])
        vw = max(len(str(f["value"])) for f in d["fields"])
        print(f"{'field':{fw}s}  {'value':>{vw}s}  source")
        for f in d["fields"]:
            print(f"{f['field']:{fw}s}  {str(f['value']):>{vw}s}  {f['source']}")
        print()
        dw = max(len(k) for k in d["derived"])
        for k, v in d["derived"].items():
            print(f"{k:{dw}s}  {exact(v)}")
        print("\nGEMMs (a = activations m×k, b = k×n; count = identical repetitions):")
        with pd.option_context("display.width", 200, "display.max_columns", 20):
            print(d["gemms"].to_string(index=False))
        return 0
    if args.name:
        raise ValueError(f"unexpected argument {args.name!r}; did you mean `lowbit workloads show {args.name}`?")
    with pd.option_context("display.max_rows", None, "display.width", 250, "display.max_columns", 20):
        print(list_table().to_string(index=False))
    print("\n`lowbit workloads show NAME` lists every field with its source and the GEMMs.")
    return 0
