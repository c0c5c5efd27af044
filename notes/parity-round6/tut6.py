# ruff: noqa
"""Parity scratch script (imports torch; run by hand, never collected by pytest): see notes/parity-round6.md."""

"""Tutorial training steps side by side: torch eager, jitgrad eager, jitgrad traced."""
import sys, math, warnings, traceback
import numpy as np

warnings.simplefilter("ignore")
import os

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "parity-round5"))
from tut import T, arr, cmp, flat, init, main  # the round-5 harness

DT = np.float64 if os.environ.get("F64") else np.float32


PROGS = {}


def prog(f):
    PROGS[f.__name__] = f


@prog
def cifar(L, traced, be):
    nn, F, optim = L.nn, L.nn.functional, L.optim

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(3, 6, 5)
            self.pool = nn.MaxPool2d(2, 2)
            self.conv2 = nn.Conv2d(6, 16, 5)
            self.fc1 = nn.Linear(16 * 5 * 5, 120)
            self.fc2 = nn.Linear(120, 84)
            self.fc3 = nn.Linear(84, 10)

        def forward(self, x):
            x = self.pool(F.relu(self.conv1(x)))
            x = self.pool(F.relu(self.conv2(x)))
            x = L.flatten(x, 1)  # flatten all dimensions except batch
            x = F.relu(self.fc1(x))
            x = F.relu(self.fc2(x))
            x = self.fc3(x)
            return x

    net = Net()
    init(L, net, scale=0.1)
    criterion = nn.CrossEntropyLoss()
    optimizer = optim.SGD(net.parameters(), lr=0.001, momentum=0.9)

    def step(inputs, labels):
        optimizer.zero_grad()
        outputs = net(inputs)
        loss = criterion(outputs, labels)
        loss.backward()
        optimizer.step()
        return loss

    step = T(L, traced, step, be)
    rs = np.random.RandomState(3)
    res, printed = [], []
    running_loss = 0.0
    for i in range(4):
        inputs = arr(L, rs.randn(2, 3, 32, 32))
        labels = L.tensor(rs.randint(0, 10, size=2))
        loss = step(inputs, labels)
        running_loss += loss.item()
        res.append(loss.item())
        if i % 2 == 1:
            printed.append(f"[1, {i + 1:5d}] loss: {running_loss / 2:.3f}")
            running_loss = 0.0
    correct = 0
    total = 0
    with L.no_grad():
        images = arr(L, rs.randn(4, 3, 32, 32))
        labels = L.tensor(rs.randint(0, 10, size=4))
        outputs = net(images)
        _, predicted = L.max(outputs, 1)
        total += labels.size(0)
        correct += (predicted == labels).sum().item()
        assert predicted.dtype == L.int64, predicted.dtype
        _, predictions = L.max(outputs, 1)
        for label, prediction in zip(labels, predictions):
            if label == prediction:
                correct += 1
    print("   ", L.__name__, printed, correct, total, type(correct))
    return res + [correct, total], list(net.parameters()) + [outputs]


@prog
def charrnn(L, traced, be):
    nn = L.nn
    n_letters, n_hidden, n_categories = 8, 6, 3

    class RNN(nn.Module):
        def __init__(self, input_size, hidden_size, output_size):
            super(RNN, self).__init__()
            self.hidden_size = hidden_size
            self.i2h = nn.Linear(input_size + hidden_size, hidden_size)
            self.i2o = nn.Linear(input_size + hidden_size, output_size)
            self.softmax = nn.LogSoftmax(dim=1)

        def forward(self, input, hidden):
            combined = L.cat((input, hidden), 1)
            hidden = self.i2h(combined)
            output = self.i2o(combined)
            output = self.softmax(output)
            return output, hidden

        def initHidden(self):
            return L.zeros(1, self.hidden_size)

    rnn = RNN(n_letters, n_hidden, n_categories)
    init(L, rnn)
    criterion = nn.NLLLoss()
    learning_rate = 0.005

    def lineToTensor(idx):
        tensor = L.zeros(len(idx), 1, n_letters)
        for li, letter in enumerate(idx):
            tensor[li][0][letter] = 1
        return tensor

    def train(category_tensor, line_tensor):
        hidden = rnn.initHidden()
        rnn.zero_grad()
        for i in range(line_tensor.size()[0]):
            output, hidden = rnn(line_tensor[i], hidden)
        loss = criterion(output, category_tensor)
        loss.backward()
        for p in rnn.parameters():
            p.data.add_(p.grad.data, alpha=-learning_rate)
        return output, (loss if traced else loss.item())

    train = T(L, traced, train, be)
    rs = np.random.RandomState(4)
    res = []
    for it in range(4):
        line = lineToTensor(rs.randint(0, n_letters, size=3))
        cat = L.tensor([int(rs.randint(0, n_categories))], dtype=L.long)
        output, loss = train(cat, line)
        top_n, top_i = output.topk(1)
        category_i = top_i[0].item()
        res.append([float(loss), category_i])
    # generation: topk + multinomial shapes/dtypes
    with L.no_grad():
        hidden = rnn.initHidden()
        out, hidden = rnn(lineToTensor([1])[0], hidden)
        topv, topi = out.topk(2)
        probs = out.exp()
        s = L.multinomial(probs, 1)
        assert s.shape == (1, 1) and s.dtype == L.int64, (s.shape, s.dtype)
        s2 = L.multinomial(probs[0], 5, replacement=True)
        assert s2.shape == (5,) and s2.dtype == L.int64
        d = L.multinomial(L.tensor([0.0, 1.0, 0.0]), 2, replacement=True)
        assert d.tolist() == [1, 1], d
    return res, list(rnn.parameters()) + [topv, topi, probs]


@prog
def reinforce(L, traced, be):
    nn, F, optim = L.nn, L.nn.functional, L.optim
    from_dist = L.distributions.Categorical

    class Policy(nn.Module):
        def __init__(self):
            super(Policy, self).__init__()
            self.affine1 = nn.Linear(4, 16)
            self.dropout = nn.Dropout(p=0.0)
            self.affine2 = nn.Linear(16, 2)

        def forward(self, x):
            x = self.affine1(x)
            x = self.dropout(x)
            x = F.relu(x)
            action_scores = self.affine2(x)
            return F.softmax(action_scores, dim=1)

    policy = Policy()
    init(L, policy)
    optimizer = optim.Adam(policy.parameters(), lr=1e-2)
    eps = np.finfo(np.float32).eps.item()
    gamma = 0.99

    def step(states, actions, rewards):
        probs = policy(states)
        m = from_dist(probs)
        log_probs = m.log_prob(actions)
        R = 0
        returns = []
        for r in rewards[::-1]:
            R = r + gamma * R
            returns.insert(0, R)
        returns = L.tensor(returns)
        returns = (returns - returns.mean()) / (returns.std() + eps)
        policy_loss = []
        for log_prob, R in zip(log_probs, returns):
            policy_loss.append(-log_prob * R)
        optimizer.zero_grad()
        policy_loss = L.stack(policy_loss).sum()
        policy_loss.backward()
        optimizer.step()
        return policy_loss, m.entropy().mean()

    step = T(L, traced, step, be)
    rs = np.random.RandomState(5)
    res = []
    for it in range(3):
        states = arr(L, rs.randn(5, 4))
        actions = L.tensor(rs.randint(0, 2, size=5))
        rewards = rs.rand(5).tolist()
        res.append([float(v) for v in step(states, actions, rewards)])
    with L.no_grad():
        m = from_dist(policy(arr(L, rs.randn(1, 4))))
        a = m.sample()
        assert a.shape == (1,) and a.dtype == L.int64, (a.shape, a.dtype)
        lp = m.log_prob(a)
        assert lp.shape == (1,)
    return res, list(policy.parameters()) + [m.probs, m.logits, m.entropy()]


@prog
def actor_critic(L, traced, be):
    nn, F, optim = L.nn, L.nn.functional, L.optim

    class Policy(nn.Module):
        def __init__(self):
            super(Policy, self).__init__()
            self.affine1 = nn.Linear(4, 16)
            self.action_head = nn.Linear(16, 2)
            self.value_head = nn.Linear(16, 1)

        def forward(self, x):
            x = F.relu(self.affine1(x))
            action_prob = F.softmax(self.action_head(x), dim=-1)
            state_values = self.value_head(x)
            return action_prob, state_values

    model = Policy()
    init(L, model)
    optimizer = optim.Adam(model.parameters(), lr=3e-2)
    eps = np.finfo(np.float32).eps.item()

    def step(states, actions, rewards):
        probs, values = model(states)
        m = L.distributions.Categorical(probs)
        saved = [(m.log_prob(actions[i]), values[i]) for i in range(states.shape[0])]
        R = 0
        returns = []
        for r in rewards[::-1]:
            R = r + 0.99 * R
            returns.insert(0, R)
        returns = L.tensor(returns)
        returns = (returns - returns.mean()) / (returns.std() + eps)
        policy_losses, value_losses = [], []
        for (log_prob, value), R in zip(saved, returns):
            advantage = R - (value.detach() if traced else value.item())
            policy_losses.append(-log_prob * advantage)
            value_losses.append(F.smooth_l1_loss(value, L.tensor([R])))
        optimizer.zero_grad()
        loss = L.stack(policy_losses).sum() + L.stack(value_losses).sum()
        loss.backward()
        optimizer.step()
        return loss

    step = T(L, traced, step, be)
    rs = np.random.RandomState(6)
    res = []
    for it in range(3):
        states = arr(L, rs.randn(5, 4))
        actions = L.tensor(rs.randint(0, 2, size=5))
        rewards = (rs.rand(5) * 3).tolist()
        res.append(float(step(states, actions, rewards)))
    return res, list(model.parameters())


@prog
def ppo(L, traced, be):
    nn, F, optim = L.nn, L.nn.functional, L.optim
    Cat = L.distributions.Categorical

    class AC(nn.Module):
        def __init__(self):
            super().__init__()
            self.actor = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 3))
            self.critic = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 1))

        def evaluate(self, s, a):
            logits = self.actor(s)
            dist = Cat(logits=logits)
            return dist.log_prob(a), self.critic(s).squeeze(-1), dist.entropy()

    ac = AC()
    init(L, ac)
    opt = optim.Adam(ac.parameters(), lr=3e-3, eps=1e-5)
    clip = 0.2

    def update(s, a, old_lp, ret, adv):
        new_lp, v, ent = ac.evaluate(s, a)
        ratio = L.exp(new_lp - old_lp)
        surr1 = ratio * adv
        surr2 = L.clamp(ratio, 1 - clip, 1 + clip) * adv
        loss = -L.min(surr1, surr2).mean() + 0.5 * F.mse_loss(v, ret) - 0.01 * ent.mean()
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(ac.parameters(), 0.5)
        opt.step()
        return loss, ratio.detach().max()

    update = T(L, traced, update, be)
    rs = np.random.RandomState(7)
    N = 8
    s = arr(L, rs.randn(N, 4))
    a = L.tensor(rs.randint(0, 3, size=N))
    with L.no_grad():
        old_lp, v, _ = ac.evaluate(s, a)
    rewards = arr(L, rs.rand(N))
    ret = rewards + 0.9 * v
    adv = ret - v
    adv = (adv - adv.mean()) / (adv.std() + 1e-8)
    res = []
    for epoch in range(3):
        perm = rs.permutation(N)
        for mb in (perm[:4], perm[4:]):
            idx = L.tensor(mb)
            out = update(s[idx], a[idx], old_lp[idx], ret[idx], adv[idx])
            res.append([float(o) for o in out])
    return res, list(ac.parameters())


if __name__ == "__main__":
    main(PROGS)
