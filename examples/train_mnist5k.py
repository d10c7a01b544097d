"""Train a model on the bundled MNIST digits (mnist5k) and save its ``state_dict``, for
``stridescope consistency`` — with the study's data split and training loop, so the test images
``consistency`` measures on are images the model never saw.

    python examples/train_mnist5k.py examples/resnet18_mini.py:blurpool blurpool.pt --epochs 3
    stridescope consistency examples/resnet18_mini.py:blurpool --weights blurpool.pt

``TARGET`` is ``FILE.py:FACTORY`` (called with ``num_classes=`` when it takes it); the model
takes ``(N, C, 28, 28)`` images normalised as the study normalises them. Adam, learning rate
1e-3, batches of 128, one thread.
"""

from __future__ import annotations

import argparse

import torch

from stridescope.frontends.load import load_model
from stridescope.study.data import STUDY_SPLIT_SEED, load_dataset
from stridescope.study.train import TrainOptions, evaluate, train_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("target", help="FILE.py:FACTORY")
    parser.add_argument("out", help="where to write the state_dict (e.g. model.pt)")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(1)
    data = load_dataset("mnist5k", seed=STUDY_SPLIT_SEED)
    torch.manual_seed(args.seed)
    model = load_model(args.target, num_classes=data.num_classes)
    x, y = torch.from_numpy(data.x_train), torch.from_numpy(data.y_train)
    options = TrainOptions(epochs=args.epochs, seed=args.seed)
    stats = train_model(model, x, y, options, lambda e, loss: print(f"epoch {e}: loss {loss:.4f}"))
    test = evaluate(model, torch.from_numpy(data.x_test), torch.from_numpy(data.y_test))
    torch.save(model.state_dict(), args.out)
    print(
        f"{args.target}: {stats.seconds:.1f} s, test accuracy {test.accuracy:.3f}; wrote {args.out}"
    )


if __name__ == "__main__":
    main()
