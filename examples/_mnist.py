"""The MNIST training loop shared by mnist_mlp.py and mnist_cnn.py: eager or traced."""

import time

import numpy as np
from _common import Progress, is_quick, load_trace, save_plot

import jitgrad as torch
from jitgrad import nn
from jitgrad.utils.data import DataLoader, TensorDataset


def add_args(p, epochs, batch_size):
    p.add_argument(
        "--mode",
        choices=["eager", "trace", "both"],
        default="eager",
        help="eager (define-by-run), trace (jitgrad.trace-compiled step) or both",
    )
    p.add_argument("--epochs", type=int, default=epochs)
    p.add_argument("--batch-size", type=int, default=batch_size)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--plot", metavar="OUT.PNG", help="save the loss curve and predictions")
    return p


def evaluate(model, x, y, batch=1000):
    model.eval()
    correct = 0
    with torch.no_grad():
        for s in range(0, len(y), batch):
            correct += (model(x[s : s + batch]).argmax(1) == y[s : s + batch]).sum().item()
    model.train()
    return correct / len(y)


def train(mode, build, make_opt, data, args, name, make_sched=None):
    """Train one model in ``mode``; returns a result dict, or None if the mode is unavailable.
    ``make_sched(opt, total_steps)``: an lr scheduler stepped after every batch (optional)."""
    (xtr, ytr), (xte, yte) = data
    quick = is_quick(args)
    torch.manual_seed(args.seed)
    model = build()
    opt = make_opt(model.parameters())
    loss_fn = nn.CrossEntropyLoss()

    def train_step(x, y):
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        return loss

    step = train_step
    if mode == "trace":
        trace = load_trace()
        if trace is None:
            return None
        step = trace(train_step)
    loader = DataLoader(
        TensorDataset(xtr, ytr),
        batch_size=args.batch_size,
        shuffle=True,
        drop_last=True,
        generator=torch.Generator().manual_seed(args.seed),
    )
    n_batches = 5 if quick else len(loader)
    epochs = 1 if quick else args.epochs
    sched = make_sched(opt, epochs * n_batches) if make_sched else None
    losses, rates = [], []
    t_start = time.perf_counter()
    for epoch in range(epochs):
        bar = Progress(n_batches, f"{name} [{mode}] epoch {epoch + 1}/{epochs} ")
        for i, (x, y) in enumerate(loader):
            if i == n_batches:
                break
            try:
                loss = step(x, y)
            except (ImportError, NotImplementedError) as e:
                if mode == "trace" and epoch == 0 and i == 0:
                    print(f"\ntrace mode unavailable: compiling the step failed ({e}); skipping it")
                    return None
                raise
            if sched is not None:
                sched.step()
            losses.append(loss.item())
            bar.update(i, len(y), losses[-1])
        rates.append(bar.close())
    train_time = time.perf_counter() - t_start
    if quick:
        xte, yte = xte[:1000], yte[:1000]
    acc = evaluate(model, xte, yte)
    print(
        f"{name} [{mode}]: test accuracy {acc * 100:.2f}%  ({len(yte)} test images), "
        f"throughput {np.mean(rates):,.0f} samples/s, training time {train_time:.1f} s"
    )
    return dict(
        mode=mode, acc=acc, rate=float(np.mean(rates)), time=train_time, losses=losses, model=model
    )


def main(args, name, build, make_opt, flatten, make_sched=None):
    print(f"{name}: loading MNIST (shipped with jitgrad; LeCun, Cortes, Burges, CC BY-SA 3.0)")
    train_set = torch.datasets.MNIST(train=True)
    test_set = torch.datasets.MNIST(train=False)
    data = (train_set.tensors(flatten=flatten), test_set.tensors(flatten=flatten))
    modes = ["eager", "trace"] if args.mode == "both" else [args.mode]
    results = [
        r for r in (train(m, build, make_opt, data, args, name, make_sched) for m in modes) if r
    ]
    if len(results) == 2:
        print(f"\n{'mode':<8}{'test acc':>10}{'samples/s':>12}{'train s':>10}")
        for r in results:
            print(f"{r['mode']:<8}{r['acc'] * 100:>9.2f}%{r['rate']:>12,.0f}{r['time']:>10.1f}")
    if args.plot and results:
        r = results[0]
        xte, yte = data[1]
        with torch.no_grad():
            r["model"].eval()
            preds = r["model"](xte[:8]).argmax(1).tolist()
        imgs = xte[:8].numpy().reshape(8, -1)
        save_plot(
            args.plot,
            r["losses"],
            imgs,
            yte[:8].tolist(),
            preds,
            f"{name}: {r['mode']} mode, test accuracy {r['acc'] * 100:.2f}%",
        )
    return results
