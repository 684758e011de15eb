"""Screen a DCGAN recipe outside the pipeline (notes/benchmarks.md, "The DCGAN at lr 1e-3").

Trains the DCGAN as `kedro run --pipelines gan` does (`train_dcgan`'s task, the default
`gan.training` block with the settings below changed) and scores after every epoch, like the
pipeline, 5,000 samples against the test split with the trained SimpLeNet; with ``--ema`` also a
moving average of the generator's weights (with the generator's batch-norm statistics, and with
statistics recomputed for the average). Run after `kedro run` (it needs the splits and SimpLeNet)::

    python notes/gan_screen.py --name c1e3 --lr 0.001
    python notes/gan_screen.py --name lin_ema --schedule linear --ema 0.999 --threads 1
"""

import argparse
import copy
import json
import time

import numpy as np
import torch
from safetensors.numpy import load_file

from practical_dl.classifier import latest_classifier_file, load_classifier
from practical_dl.gan import ClassifierProbe, DCGANTask, GANConfig, GANScorer, build_gan
from practical_dl.loop import train_epochs


def recalibrated(generator, batches: int = 20, size: int = 500):
    """A copy whose batch-norm statistics are those of its own outputs (cumulative averages)."""
    generator = copy.deepcopy(generator)
    for module in generator.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.reset_running_stats()
            module.momentum = None
    generator.train()
    rng = torch.Generator().manual_seed(12345)
    with torch.no_grad():
        for _ in range(batches):
            generator(torch.randn(size, generator.latent_dim, generator=rng))
    return generator.eval()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--name", required=True, help="names the JSON history written to notes/")
    parser.add_argument("--epochs", type=int, default=9)
    parser.add_argument("--lr", type=float, default=5e-4)
    parser.add_argument("--schedule", default="constant", choices=["constant", "linear"])
    parser.add_argument("--ema", type=float, default=0.0, help="decay of a moving average of G scored beside it (0: none)")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--data", default="data", help="the project's data folder")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    train = load_file(f"{args.data}/05_model_input/train.safetensors")
    test = load_file(f"{args.data}/05_model_input/test.safetensors")
    probe = ClassifierProbe(load_classifier(latest_classifier_file(f"{args.data}/06_models", "simplenet")), "cpu")
    config = GANConfig(
        epochs=args.epochs,
        batch_size=64,
        lr=args.lr,
        schedule=args.schedule,
        discriminator_features=16,
        real_label=0.9,
        generator_average=args.ema,  # the task keeps the average beside the generator; both are scored below
        progress=False,
    )
    scorer = GANScorer(probe, torch.from_numpy(test["images"]).float() / 255.0, 5000, 10, config.seed)
    torch.manual_seed(config.seed)
    generator, discriminator = build_gan(config)

    def score(_, epoch):
        row = {f"raw_{k}": v for k, v in scorer(task.generator, epoch).items() if k != "inception_score_std"}
        if task.average is not None:  # its batch-norm statistics are the generator's
            row |= {f"ema_{k}": v for k, v in scorer(task.average, epoch).items() if k != "inception_score_std"}
            row |= {f"ema_recalibrated_{k}": v for k, v in scorer(recalibrated(task.average), epoch).items() if k != "inception_score_std"}
        print(args.name, epoch, json.dumps({k: round(v, 3) for k, v in row.items()}), flush=True)
        return row

    data = torch.from_numpy(np.ascontiguousarray(train["images"]))
    task = DCGANTask(generator, discriminator, data, config, torch.device("cpu"), "fp32", score)
    start = time.perf_counter()
    result = train_epochs(task, args.epochs, config.seed, "DCGAN", [], None)
    print(args.name, "done in", round(time.perf_counter() - start, 1), "s", flush=True)
    with open(f"notes/gan_screen_{args.name}.json", "w") as f:
        json.dump(result.history, f)


if __name__ == "__main__":
    main()
