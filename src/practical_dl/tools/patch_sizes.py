"""``python -m practical_dl.tools.patch_sizes``: targeted success of the adversarial patch against its size."""

from __future__ import annotations

from practical_dl.methods.patch import PatchConfig, targeted_success, train_patch


def main(argv: list[str] | None = None) -> None:
    """``python -m practical_dl.tools.patch_sizes``: targeted success against patch size for trained models
    (after ``kedro run``; ``--models simplenet_robust`` after ``kedro run --pipelines
    adversarial``), printed as a Markdown table. The patches are trained on training digits and
    pasted at random positions on test digits not of the target class."""
    import argparse
    import time

    from safetensors.torch import load_file

    from practical_dl.models.classifier import latest_classifier_file, load_classifier

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--models", nargs="+", default=["simplenet"])
    parser.add_argument("--sizes", nargs="+", type=int, default=[4, 8, 12, 16])
    parser.add_argument("--target", type=int, default=3)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--train-images", type=int, default=10000)
    parser.add_argument("--test-images", type=int, default=2000)
    parser.add_argument("--data", default="data")
    args = parser.parse_args(argv)
    train = load_file(f"{args.data}/05_model_input/train.safetensors")
    test = load_file(f"{args.data}/05_model_input/test.safetensors")
    x_train = train["images"][: args.train_images].float() / 255
    x_test, y_test = test["images"][: args.test_images].float() / 255, test["labels"][: args.test_images]
    print(f"| model | {' | '.join(f'{s}x{s}' for s in args.sizes)} |\n|---|{'---:|' * len(args.sizes)}")
    for model in args.models:
        classifier = load_classifier(latest_classifier_file(f"{args.data}/06_models", model)).eval().requires_grad_(False)
        cells = []
        for size in args.sizes:
            start = time.perf_counter()
            patch = train_patch(classifier, x_train, PatchConfig(size=size, target=args.target, steps=args.steps))
            rate = targeted_success(classifier, x_test, y_test, patch, args.target)
            cells.append(f"{100 * rate:.1f} % ({time.perf_counter() - start:.0f} s)")
        print(f"| {classifier.label} | {' | '.join(cells)} |", flush=True)


if __name__ == "__main__":
    main()
