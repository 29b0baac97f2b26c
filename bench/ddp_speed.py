#!/usr/bin/python3
"""Baseline for bench/ddp.sh: the KD loop of bench/kd_speed.py, data-parallel
in PyTorch (Python): DistributedDataParallel over Gloo, a DistributedSampler,
WORLD processes of THREADS threads each on this host (127.0.0.1).

Same data, teacher and student architectures, loss (Hinton KD, T=4,
alpha=0.9), Adam 1e-3, batch 128 per rank, one epoch plus rank 0's test-set
evaluation. Prints rank 0's samples/s (all ranks' samples) as JSON.

usage: ddp_speed.py [WORLD [THREADS [EPOCHS]]]
"""
import gzip, json, os, sys, time
import numpy as np
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fmnist_teachers  # noqa: E402

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


def rank_main(rank, world, threads, epochs, port, out):
    torch.set_num_threads(threads)
    os.environ["MASTER_ADDR"], os.environ["MASTER_PORT"] = "127.0.0.1", str(port)
    dist.init_process_group("gloo", rank=rank, world_size=world)
    torch.manual_seed(1)
    x, y = tensors("train")
    tx, ty = tensors("t10k")
    teacher = fmnist_teachers.teacher().eval()
    student = nn.parallel.DistributedDataParallel(
        nn.Sequential(nn.Flatten(), nn.Linear(784, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10)))
    opt = torch.optim.Adam(student.parameters(), lr=1e-3)
    sampler = torch.utils.data.distributed.DistributedSampler(range(x.shape[0]), num_replicas=world, rank=rank, seed=1)
    T, alpha, bs = 4.0, 0.9, 128
    dist.barrier()
    start = time.perf_counter()
    for epoch in range(epochs):
        sampler.set_epoch(epoch)
        mine = torch.tensor(list(iter(sampler)))
        for i in range(0, mine.shape[0], bs):
            idx_b = mine[i:i + bs]
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
        if rank == 0:
            with torch.no_grad():
                acc = sum((student(tx[i:i + 1000]).argmax(1) == ty[i:i + 1000]).sum().item() for i in range(0, 10000, 1000)) / 10000
        dist.barrier()
    secs = time.perf_counter() - start
    if rank == 0:
        with open(out, "w") as f:
            json.dump({"samples_per_s": epochs * x.shape[0] / secs, "seconds": secs, "torch": torch.__version__, "world": world,
                       "threads": threads, "epochs": epochs, "student_accuracy": acc}, f)
    dist.destroy_process_group()


if __name__ == "__main__":
    world = int(sys.argv[1]) if len(sys.argv) > 1 else 2
    threads = int(sys.argv[2]) if len(sys.argv) > 2 else 1
    epochs = int(sys.argv[3]) if len(sys.argv) > 3 else 1
    import socket, tempfile
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    out = tempfile.mktemp(suffix=".json")
    mp.spawn(rank_main, args=(world, threads, epochs, port, out), nprocs=world, join=True)
    print(open(out).read())
    os.unlink(out)
