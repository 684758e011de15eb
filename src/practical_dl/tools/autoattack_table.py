"""``python -m practical_dl.tools.autoattack_table``: trained models under AutoAttack's core and our PGD, as a Markdown table."""

from __future__ import annotations

from practical_dl.methods.attack_settings import AUTOATTACK, PUBLISHED_MNIST, AutoAttackConfig


def main(argv: list[str] | None = None) -> None:
    """``python -m practical_dl.tools.autoattack_table``: accuracy (%) of trained models (after ``kedro run``;
    ``simplenet_robust`` after ``kedro run --pipelines adversarial``) on a seeded, stratified subset of the
    test split (the adversarial pipeline's: 1,000 images, seed 0), clean, under our PGD (10 steps of ε/4
    from the clean image) and under APGD-CE, APGD-T and Square from the Adversarial Robustness Toolbox
    (AutoAttack: robust to all three; the accuracy left after each, or with ``--alone`` each attack's
    own), at L∞ radius ε in pixel units, with seconds per model."""
    import argparse
    import logging
    import time

    import torch
    from safetensors.torch import load_file

    from practical_dl.core.splits import stratified_subset
    from practical_dl.methods.attack_settings import AttackConfig
    from practical_dl.methods.attacks import share, unbroken_by
    from practical_dl.methods.autoattack import autoattack_accuracy
    from practical_dl.models.classifier import latest_classifier_file, load_classifier

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--models", nargs="+", default=["simplenet", "simplenet_plus", "simplenet_robust"])
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epsilon", type=float, default=0.3)
    parser.add_argument("--data", default="data")
    parser.add_argument("--alone", action="store_true", help="each attack on every correctly classified image (its own accuracy)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    logging.getLogger("art").setLevel(logging.WARNING)  # not its "Inferred 2 hidden layers" for every estimator
    config = AutoAttackConfig(epsilon=args.epsilon, seed=args.seed, alone=args.alone)  # PGD-10: AttackConfig's defaults
    test = {k: v.numpy() for k, v in load_file(f"{args.data}/05_model_input/test.safetensors").items()}
    split = stratified_subset(test, args.images, seed=args.seed)
    x, y = torch.from_numpy(split["images"]).float() / 255, torch.from_numpy(split["labels"]).long()
    print(
        f"Accuracy (%) on {len(y)} test images (stratified, seed {args.seed}) at L∞ ε = {args.epsilon:g}; "
        f"APGD-CE, APGD-T ({config.target_classes} targets), Square ({config.square_queries} queries): "
        f"{'each alone' if args.alone else 'accuracy left after each, on what the ones before it left'}.\n"
    )
    print(f"| model | clean | PGD-10 | {' | '.join(AUTOATTACK)} | AutoAttack | seconds (PGD, AutoAttack) |")
    print(f"|:--|--:|--:|{'--:|' * len(AUTOATTACK)}--:|--:|")
    for model in args.models:
        classifier = load_classifier(latest_classifier_file(f"{args.data}/06_models", model)).float().eval().requires_grad_(False)
        start = time.perf_counter()
        by_pgd = share(unbroken_by(classifier, x, y, AttackConfig(kind="pgd"), args.epsilon, config.batch_size))
        pgd_seconds = time.perf_counter() - start
        result = autoattack_accuracy(classifier, x, y, **config.model_dump())
        cells = [f"{100 * a.accuracy:.1f}" for a in result.attacks]
        print(
            f"| {classifier.label} | {100 * result.clean_accuracy:.1f} | {100 * by_pgd:.1f} | {' | '.join(cells)} "
            f"| **{100 * result.robust_accuracy:.1f}** | {pgd_seconds:.0f}, {result.seconds:.0f} "
            f"({', '.join(f'{a.seconds:.0f}' for a in result.attacks)}) |",
            flush=True,
        )
    for who, accuracy in PUBLISHED_MNIST.items():
        print(f"| {who}, AutoAttack README | | | | | | {accuracy:.2f} | |")


if __name__ == "__main__":
    main()
