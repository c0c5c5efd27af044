"""Bar chart of a run: one panel per workload family, one bar per implementation."""

import math

COLORS = {
    "jitgrad eager": "#9ecae1",
    "jitgrad compiled": "#08519c",
    "jitgrad serial": "#4292c6",
    "numpy": "#999999",
    "torch eager": "#fdae6b",
    "torch.compile": "#e6550d",
    "jax.jit": "#31a354",
}


def plot(rows, path, meta):
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return f"--plot {path}: matplotlib is not installed; no chart written"
    groups = {}
    for r in rows:
        groups.setdefault(r["group"], []).append(r)
    n = len(groups)
    if not n:
        return "--plot: nothing to plot"
    ncol = 2 if n > 1 else 1
    nrow = math.ceil(n / ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(7 * ncol, 3.6 * nrow), squeeze=False)
    cols = list(COLORS)
    for ax, (g, rs) in zip(axes.flat, groups.items()):
        unit = rs[0]["unit"]
        scale = {"s": 1.0, "ms": 1e3, "us": 1e6}[unit]
        width = 0.8 / len(cols)
        vals = []
        for j, c in enumerate(cols):
            xs, ys, lo, hi = [], [], [], []
            for i, r in enumerate(rs):
                cc = next(x for x in r["columns"] if x["column"] == c)
                if "median_s" in cc:
                    xs.append(i + (j - (len(cols) - 1) / 2) * width)
                    m = cc["median_s"] * scale
                    ys.append(m)
                    lo.append(m - cc["min_s"] * scale)
                    hi.append(cc["max_s"] * scale - m)
            if xs:
                ax.bar(
                    xs,
                    ys,
                    width,
                    yerr=[lo, hi],
                    color=COLORS[c],
                    label=c,
                    capsize=1.5,
                    error_kw=dict(lw=0.6),
                )
                vals += ys
        ax.set_xticks(range(len(rs)))
        ax.set_xticklabels([r["x"] or "" for r in rs])
        ax.set_title(g, fontsize=10)
        ax.set_ylabel(f"{unit} per call (lower is better)", fontsize=8)
        if vals and max(vals) / max(min(vals), 1e-12) > 20:
            ax.set_yscale("log")
        ax.grid(axis="y", alpha=0.3, which="both")
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    handles, labels = [], []
    for ax in axes.flat:
        for h, lab in zip(*ax.get_legend_handles_labels()):
            if lab not in labels:
                handles.append(h)
                labels.append(lab)
    fig.legend(
        handles, labels, loc="upper center", ncol=len(labels), fontsize=9, bbox_to_anchor=(0.5, 1.0)
    )
    fig.suptitle(
        f"jitgrad benchmarks, {meta['date']}, {meta['threads']} threads for all; "
        f"{meta['machine'].split(',')[0]}",
        fontsize=9,
        y=0.965,
    )
    fig.tight_layout(rect=(0, 0, 1, 0.94))
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return f"wrote {path}"
