"""Screen a DCGAN recipe outside the pipeline (docs/benchmarks.md, "The DCGAN at lr 1e-3" and
"The DCGAN scored by the 6-epoch SimpLeNet").

Trains the DCGAN as `kedro run --pipelines gan` does (`train_dcgan`'s task, the default
`gan.training` block with the settings below changed) and scores after every epoch, like the
pipeline, 5,000 samples against the test split with the trained SimpLeNet; with ``--ema`` also a
moving average of the generator's weights (with the generator's batch-norm statistics, and with
statistics recomputed for the average). Run after `kedro run` (it needs the splits and SimpLeNet)::

    python notes/gan_screen.py --name c1e3 --lr 0.001
    python notes/gan_screen.py --name lin_ema --schedule linear --ema 0.999 --threads 1
    python notes/gan_screen.py --name sn_hinge --lr 0.001 --spectral-norm --hinge --threads 1 --epochs 3
"""

import argparse
import copy
import json
import time

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.numpy import load_file
from torch.nn.utils.parametrizations import spectral_norm

import practical_dl.methods.gan.training
from practical_dl.models.classifier import latest_classifier_file, load_classifier
from practical_dl.methods.gan.scores import ClassifierProbe, GANScorer
from practical_dl.methods.gan.training import DCGANTask, GANConfig, build_gan
from practical_dl.core.loop import train_epochs


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


def without_batch_norm_with_spectral_norm(discriminator):
    """The discriminator with spectral normalisation on its convolutions instead of batch norm (Miyato et al. 2018)."""
    for i, module in enumerate(discriminator.net):
        if isinstance(module, torch.nn.Conv2d):
            discriminator.net[i] = spectral_norm(module)
        elif isinstance(module, torch.nn.BatchNorm2d):
            discriminator.net[i] = torch.nn.Identity()
    return discriminator


def hinge_step(generator, discriminator, opt_g, opt_d, real, real_label=1.0, autocast=None, z=None, critic=None, weight=1.0):
    """``gan_step`` with the hinge loss (one process, fp32): D minimises relu(1 - D(x)) + relu(1 + D(G(z))), G -D(G(z))."""
    z = torch.randn(real.shape[0], generator.latent_dim) if z is None else z
    critic = critic if critic is not None else discriminator
    fake = generator(z)
    d_real, d_fake = discriminator(real), discriminator(fake.detach())
    loss_d = F.relu(1 - d_real).mean() + F.relu(1 + d_fake).mean()
    opt_d.zero_grad(set_to_none=True)
    loss_d.backward()
    opt_d.step()
    critic.requires_grad_(False)
    loss_g = -critic(fake).mean()
    opt_g.zero_grad(set_to_none=True)
    loss_g.backward()
    opt_g.step()
    critic.requires_grad_(True)
    n = real.shape[0]
    return torch.stack([loss_d.detach() * n, loss_g.detach() * n, torch.sigmoid(d_real.detach()).sum(), torch.sigmoid(d_fake.detach()).sum()])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--name", required=True, help="names the JSON history written to notes/")
    parser.add_argument("--epochs", type=int, default=9)
    parser.add_argument("--lr", type=float, default=5e-4)
    parser.add_argument("--schedule", default="constant", choices=["constant", "linear"])
    parser.add_argument("--ema", type=float, default=0.0, help="decay of a moving average of G scored beside it (0: none)")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--data", default="data", help="the project's data folder")
    parser.add_argument("--generator-features", type=int, default=32)
    parser.add_argument("--discriminator-features", type=int, default=16)
    parser.add_argument("--spectral-norm", action="store_true", help="spectral norm on D's convolutions, no batch norm in D")
    parser.add_argument("--hinge", action="store_true", help="the hinge loss instead of the non-saturating one")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    train = load_file(f"{args.data}/05_model_input/train.safetensors")
    test = load_file(f"{args.data}/05_model_input/test.safetensors")
    probe = ClassifierProbe(load_classifier(latest_classifier_file(f"{args.data}/06_models", "simplenet")), "cpu")
    config = GANConfig(
        epochs=args.epochs,
        batch_size=64,
        generator_features=args.generator_features,
        lr=args.lr,
        schedule=args.schedule,
        discriminator_features=args.discriminator_features,
        real_label=0.9,
        generator_average=args.ema,  # the task keeps the average beside the generator; both are scored below
        progress=False,
    )
    start = time.perf_counter()
    scorer = GANScorer(probe, torch.from_numpy(test["images"]).float() / 255.0, 5000, 10, config.seed)
    torch.manual_seed(config.seed)
    generator, discriminator = build_gan(config)

    def score(_, epoch):
        row = {f"raw_{k}": v for k, v in scorer(task.generator, epoch).items() if k != "inception_score_std"}
        if task.average is not None:  # its batch-norm statistics are the generator's
            row |= {f"ema_{k}": v for k, v in scorer(task.average, epoch).items() if k != "inception_score_std"}
            row |= {f"ema_recalibrated_{k}": v for k, v in scorer(recalibrated(task.average), epoch).items() if k != "inception_score_std"}
        row["seconds"] = time.perf_counter() - start  # since the start, scores included
        print(args.name, epoch, json.dumps({k: round(v, 3) for k, v in row.items()}), flush=True)
        return row

    if args.spectral_norm:
        discriminator = without_batch_norm_with_spectral_norm(discriminator)
    if args.hinge:
        practical_dl.methods.gan.training.gan_step = hinge_step  # what DCGANTask calls
    data = torch.from_numpy(np.ascontiguousarray(train["images"]))
    task = DCGANTask(generator, discriminator, data, config, torch.device("cpu"), "fp32", score)
    result = train_epochs(task, args.epochs, config.seed, "DCGAN", [], None)
    print(args.name, "done in", round(time.perf_counter() - start, 1), "s", flush=True)
    with open(f"notes/gan_screen_{args.name}.json", "w") as f:
        json.dump(result.history, f)


if __name__ == "__main__":
    main()
