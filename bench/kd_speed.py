#!/usr/bin/python3
"""Baseline for bench/kd_speed.sh: the same KD training step in PyTorch (Python).

Same data (Debian's Fashion-MNIST, normalised the same way), same teacher
architecture (bench/fmnist_teachers.py: $DG_TEACHER_ARCH, default the demo's cnn-wide), same MLP student (784-64-64-10),
same loss (Hinton KD, T=4, alpha=0.9, CE on all labels), Adam 1e-3, batch 128,
one epoch over 60,000 images plus a test-set evaluation, same thread count.
Prints samples/s as JSON. Weights of the teacher do not change the cost.

usage: kd_speed.py [THREADS [DEVICE [EPOCHS]]]   (DEVICE cpu or cuda; data from
$DG_FASHION_MNIST, default Debian's /usr/share/datasets/fashion-mnist). On
cuda the data sits on the GPU and batches are gathered there, as in
distillgate's trainer; the clock stops after a synchronisation.
"""
import gzip, json, os, sys, time
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fmnist_teachers  # noqa: E402

threads = int(sys.argv[1]) if len(sys.argv) > 1 else 2
dev = sys.argv[2] if len(sys.argv) > 2 else "cpu"
epochs = int(sys.argv[3]) if len(sys.argv) > 3 else 1
torch.set_num_threads(threads)
torch.manual_seed(1)
D = os.environ.get("DG_FASHION_MNIST", "/usr/share/datasets/fashion-mnist")

def idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)

def tensors(prefix):
    x = torch.from_numpy(idx(f"{D}/{prefix}-images-idx3-ubyte.gz").copy()).float().div(255).sub(0.2860).div(0.3530)
    y = torch.from_numpy(idx(f"{D}/{prefix}-labels-idx1-ubyte.gz").copy()).long()
    return x.unsqueeze(1), y

x, y = tensors("train")
tx, ty = tensors("t10k")
x, y, tx, ty = x.to(dev), y.to(dev), tx.to(dev), ty.to(dev)
teacher = fmnist_teachers.teacher().eval().to(dev)
student = nn.Sequential(nn.Flatten(), nn.Linear(784, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10)).to(dev)
opt = torch.optim.Adam(student.parameters(), lr=1e-3)
T, alpha, bs = 4.0, 0.9, 128
start = time.perf_counter()
for epoch in range(epochs):
    perm = torch.randperm(x.shape[0]).to(dev)
    for i in range(0, x.shape[0], bs):
        idx_b = perm[i:i + bs]
        xb, yb = x[idx_b], y[idx_b]
        with torch.no_grad():
            t_logits = teacher(xb)
        s_logits = student(xb)
        log_ps, log_pt = F.log_softmax(s_logits / T, 1), F.log_softmax(t_logits / T, 1)
        kd = (log_pt.exp() * (log_pt - log_ps)).sum(1).mean()
        loss = alpha * T * T * kd + (1 - alpha) * F.cross_entropy(s_logits, yb)
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        acc = sum((student(tx[i:i + 1000]).argmax(1) == ty[i:i + 1000]).sum().item() for i in range(0, 10000, 1000)) / 10000
secs = time.perf_counter() - start
print(json.dumps({"samples_per_s": epochs * x.shape[0] / secs, "seconds": secs, "torch": torch.__version__, "threads": threads,
                  "device": dev, "epochs": epochs, "student_accuracy": acc}))
