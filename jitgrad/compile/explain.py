"""``step.explain()``: what was traced, what the passes made of it, and what it costs."""

from .passes.fuse import FusedNode


def _flops(g, n):
    if isinstance(n, FusedNode):
        size = 1
        for s in n.shape:
            size *= s
        return size * len(n.members)
    if n.op.name == "matmul":
        a = g.values[n.ins[0]].shape
        out = g.values[n.out]
        return 2 * out.size * a[-1]
    return g.values[n.ins[0]].size if n.ins else 0


def _bytes(g, n):
    outs = n.outs if isinstance(n, FusedNode) else (n.out,)
    return sum(g.values[v].nbytes for v in n.ins) + sum(g.values[v].nbytes for v in outs)


def explain(tf, v):
    """The text of ``step.explain()`` for variant ``v`` of traced function ``tf``."""
    g = v.graph
    exe = v.exe
    lines = [
        f"jitgrad.trace({v.fn_name}) on {tf.backend}: {len(tf._variants)} signature(s), "
        f"{sum(len(x) for x in tf._variants.values())} compiled variant(s); this variant "
        f"ran {v.calls} time(s)"
    ]
    lines.append("nodes per pass: " + " -> ".join(f"{name} {k}" for name, k in v.counts))
    groups = [n for n in g.nodes if isinstance(n, FusedNode)]
    fused_members = sum(len(n.members) for n in groups)
    lines.append(
        f"fusion: {fused_members} elementwise ops in {len(groups)} loop(s); "
        f"{len(g.nodes) - len(groups)} other node(s)"
    )
    for i, n in enumerate(groups):
        lines.append(
            f"  loop {i}: {list(n.shape)} <- "
            + " ".join(m.op.name for m in n.members)
            + f"  ({len(n.ins)} in, {len(n.outs)} out)"
        )
    others = {}
    for n in g.nodes:
        if not isinstance(n, FusedNode):
            others[n.op.name] = others.get(n.op.name, 0) + 1
    lines.append("other nodes: " + ", ".join(f"{k} x{c}" for k, c in sorted(others.items())))
    kernel_ops = [n.op for n in g.nodes if not isinstance(n, FusedNode) and "kernel" in n.op.extra]
    if kernel_ops:  # conv/pool: which gradient products the step computes (frozen layers: none)
        grads = {}
        for op in kernel_ops:
            if "grad_of" in op.extra:
                grads[op.extra["grad_of"]] = grads.get(op.extra["grad_of"], 0) + 1
        shown = ", ".join(f"{k} x{c}" for k, c in sorted(grads.items()))
        lines.append(f"conv/pool gradient products: {shown or 'none'}")
    loops = getattr(exe, "loops", None)
    if loops is not None:
        lines.append(
            f"generated loops (fused + reductions): {loops}; kernels: "
            f"{getattr(exe, 'n_kernels', '?')}"
        )
    if hasattr(exe, "thread_plan"):  # CPU: thresholds, BLAS, the run-time thread plan
        lines.append(f"threads: {exe.threads}")
    flops = sum(_flops(g, n) for n in g.nodes)
    nbytes = sum(_bytes(g, n) for n in g.nodes)
    lines.append(f"estimated work per call: {flops / 1e6:.3f} MFLOP, {nbytes / 1e6:.3f} MB moved")
    lines.append(
        f"inputs: {sum(1 for i in g.inputs if i.kind == 'arg')} args, "
        f"{sum(1 for i in g.inputs if i.kind in ('state', 'grad'))} state, "
        f"{sum(1 for i in g.inputs if i.kind == 'scalar')} scalar hyperparameters, "
        f"{sum(1 for i in g.inputs if i.kind == 'random')} random draws; "
        f"{len(g.state_writes)} state writes, {len(g.grad_binds)} .grad bindings"
    )
    cs = getattr(exe, "compile_seconds", None)
    lines.append(
        f"build: {v.build_seconds:.3f} s (codegen + module load), compile/first call: "
        f"{'not yet run' if cs is None else f'{cs:.3f} s'}, disk cache hit: "
        f"{getattr(exe, 'cache_hit', False)}"
    )
    if getattr(exe, "reused_from", None):
        lines.append(
            f"compiled code reused from {exe.reused_from} (same graph structure at other "
            "sizes): 0 kernels compiled"
        )
    wi = getattr(exe, "worker_info", None)
    if wi is not None:
        where = "in a compile worker process" if wi.get("worker") else "in this process"
        why = f" ({wi['reason']})" if wi.get("reason") else ""
        secs = wi.get("seconds")
        load = wi.get("load_seconds")
        lines.append(
            f"async compile: {where}{why}"
            + (f", {secs:.3f} s" if isinstance(secs, (int, float)) else "")
            + (f", load {load:.3f} s" if isinstance(load, (int, float)) else "")
        )
    tier = tier_line(exe)
    if tier:
        lines.append(tier)
    lines += v.guards.describe()
    fallbacks = list(getattr(exe, "fallbacks", []) or [])
    bwd = getattr(v, "bwd_exe", None)
    if bwd is not None:
        fallbacks += list(getattr(bwd, "fallbacks", []) or [])
    fallbacks = list(dict.fromkeys(fallbacks))
    if not fallbacks:
        lines.append("fallbacks: none")
    else:  # one line per op that took a slower path, with the reason ("cumsum: no cpu lowering")
        lines.append(f"fallbacks ({len(fallbacks)} op(s) on a slower path, op: reason):")
        lines += [f"  {f}" for f in fallbacks]
    return "\n".join(lines)


def _swap(ti, key, kept, swapped, pending):
    """How tier 1's stand-ins (``key``: their ``tier_info`` entries) ended: failed and
    ``kept``, ``swapped`` after some seconds, or ``pending``."""
    if ti.get(key + "_error"):
        return f"not swapped in ({ti[key + '_error']}): {kept}"
    if ti.get(key + "_seconds") is not None:
        return f"{swapped} after {ti[key + '_seconds']:.3f} s"
    return pending


def tier_line(exe):
    """The tiered async compile of a CPU step (``tiers.py``): which tier runs, and when each
    was ready; "" when the step was not compiled in tiers (foreground mode, other backends)."""
    ti = getattr(exe, "tier_info", None)
    if not ti:
        return ""
    parts = []
    if ti.get("tier1_seconds") is not None:
        parts.append(
            f"tier 1 (the step's Python version over {ti['tier1_kernels']} kernels compiled "
            f"one by one: {ti['tier1_compiled']} function(s) compiled, {ti['tier1_shared']} "
            f"kernel(s) found compiled) ready after {ti['tier1_seconds']:.3f} s "
            f"(load {ti['tier1_load_seconds']:.3f} s"
            + ("; call plan stored by an earlier run" if ti.get("tier1_plan_stored") else "")
            + ")"
        )
        if ti.get("tier1_llvm"):
            n, here, wall, cpu, where = ti["tier1_llvm"]
            skipped = len(ti.get("tier1_llvm_skipped") or ())
            parts.append(
                f"{n} fused loop(s) compiled by llvmlite (JITGRAD_TIER1_LLVM, in the "
                f"{where}; {here} compiled in this process, {wall:.3f} s here), {skipped} "
                "left to numba (not lowered)"
            )
        if ti.get("tier1_in_process"):
            parts.append(
                f"{ti['tier1_in_process']} kernel signature(s) compiled in this process at "
                "the first tier-1 call"
            )
        if ti.get("tier1_standins"):
            done = _swap(ti, "tier1_standins", "tier 1 keeps NumPy's", "the compiled ones "
                         "swapped in", "their compile is running in the worker"
                         if ti.get("tier1_standins_on_disk") != ti["tier1_standins"]
                         else "loading")  # fmt: skip
            on_disk = ti.get("tier1_standins_on_disk") or []
            new = [f for f in ti["tier1_standins"] if f not in on_disk]
            why = []
            if new:
                why.append(
                    f"{', '.join(new)} not compiled yet on this install (numba's cache beside "
                    "the package)"
                )
            if on_disk:
                why.append(
                    f"{', '.join(on_disk)} compiled, loaded after tier 1's first call (their "
                    "load kept off the way to it)"
                )
            parts.append(
                f"library kernel(s) {'; '.join(why)}: tier 1 ran NumPy stand-ins first, {done}"
            )
        if ti.get("tier1_parallel"):
            done = _swap(
                ti, "tier1_parallel", "tier 1 keeps them serial", "swapped in", "compiling"
            )
            parts.append(
                f"{ti['tier1_parallel']} parallel kernel(s) ran as serial twins first, {done}"
            )
    elif ti.get("tier1_error"):
        parts.append(f"tier 1 not built ({ti['tier1_error']})")
    if ti.get("tier2_seconds") is not None:
        parts.append(f"tier 2 (whole step) ready after {ti['tier2_seconds']:.3f} s")
    elif ti.get("tier2"):
        parts.append(f"tier 2 {ti['tier2']}")
    else:
        parts.append("tier 2 (whole step) compiling in the worker")
    if ti.get("tier1_vs_eager"):
        a, b = ti["tier1_vs_eager"]
        parts.append(f"tier-1 call {a * 1e3:.2f} ms vs eager {b * 1e3:.2f} ms")
    now = getattr(exe, "tier", None)
    return f"compile tiers (running tier {now}, {ti.get('stmts')} step statements): " + (
        "; ".join(parts)
    )
