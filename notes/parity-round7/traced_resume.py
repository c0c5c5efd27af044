# ruff: noqa
"""Eager vs @jitgrad.trace across a checkpoint: save model+optimizer+scheduler state mid-run,
load it into fresh objects (or the same ones) and keep training (jitgrad only; run by hand)."""
import io, sys
import numpy as np
import jitgrad as L

F = L.nn.functional
backend = sys.argv[1] if len(sys.argv) > 1 else "reference"
rng = np.random.default_rng(0)
X = [L.tensor(rng.standard_normal((4, 3)).astype(np.float32)) for _ in range(2)]
Y = [L.tensor(rng.integers(0, 2, 4)) for _ in range(2)]


def run(trace, reload_into_same):
    m = L.nn.Sequential(L.nn.Linear(3, 4), L.nn.BatchNorm1d(4), L.nn.ReLU(), L.nn.Linear(4, 2))
    with L.no_grad():
        for i, p in enumerate(m.parameters()):
            p.copy_(L.tensor(np.random.default_rng(i).standard_normal(tuple(p.shape)).astype(np.float32) * 0.5))
    opt = L.optim.Adam(m.parameters(), lr=0.01)
    sch = L.optim.lr_scheduler.StepLR(opt, 2, 0.5)

    def mk_step(m, opt):
        def step(x, y):
            loss = F.cross_entropy(m(x), y)
            loss.backward(); opt.step(); opt.zero_grad()
            return loss
        return L.trace(backend=backend)(step) if trace else step

    step = mk_step(m, opt)
    losses = []
    for k in range(4):
        losses.append(float(step(X[k % 2], Y[k % 2]))); sch.step()
    buf = io.BytesIO()
    L.save({"m": m.state_dict(), "o": opt.state_dict(), "s": sch.state_dict()}, buf)
    for k in range(2):  # diverge, then roll back to the checkpoint
        losses.append(float(step(X[k % 2], Y[k % 2]))); sch.step()
    buf.seek(0)
    ck = L.load(buf)
    if not reload_into_same:
        m = L.nn.Sequential(L.nn.Linear(3, 4), L.nn.BatchNorm1d(4), L.nn.ReLU(), L.nn.Linear(4, 2))
        opt = L.optim.Adam(m.parameters(), lr=0.5)
        sch = L.optim.lr_scheduler.StepLR(opt, 2, 0.5)
        step = mk_step(m, opt)
    m.load_state_dict(ck["m"]); opt.load_state_dict(ck["o"]); sch.load_state_dict(ck["s"])
    for k in range(4):
        losses.append(float(step(X[k % 2], Y[k % 2]))); sch.step()
    m.eval()
    losses.append(float(F.cross_entropy(m(X[0]), Y[0])))
    return losses


for same in (True, False):
    a, b = run(False, same), run(True, same)
    ok = np.allclose(a, b, rtol=1e-4, atol=1e-6)
    print(f"[{backend}] resume into {'the same' if same else 'fresh'} objects: {'OK' if ok else 'DIFF'}\n  eager {np.round(a, 5).tolist()}\n  trace {np.round(b, 5).tolist()}")
