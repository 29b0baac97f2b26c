"""The image teachers of distillgate's trainer (src/train/distill.cc, MakeModel) in PyTorch, for the
Python baselines (kd_speed.py, ddp_speed.py). In eval mode dropout is the identity; weights do not
change the cost. The architecture comes from $DG_TEACHER_ARCH (the shell scripts read it from the
teacher's .pt.json), default cnn-wide: the demo's teacher."""
import os
import torch.nn as nn


def teacher(arch=None):
    arch = arch or os.environ.get("DG_TEACHER_ARCH", "cnn-wide")
    if arch == "cnn":
        return nn.Sequential(nn.Conv2d(1, 16, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(16, 32, 3), nn.ReLU(),
                             nn.MaxPool2d(2), nn.Flatten(), nn.Linear(32 * 5 * 5, 128), nn.ReLU(), nn.Linear(128, 10))
    if arch == "cnn-wide":
        return nn.Sequential(nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                             nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                             nn.Dropout(0.25), nn.Linear(64 * 7 * 7, 256), nn.ReLU(), nn.Dropout(0.25),
                             nn.Linear(256, 10))
    raise SystemExit(f"fmnist_teachers: unknown teacher architecture {arch!r} (expected cnn or cnn-wide)")
