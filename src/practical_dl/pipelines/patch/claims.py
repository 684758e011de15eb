"""The claims the ``patch`` pipeline checks: the bar, and the lecture's claims about patches, each
held or contradicted by the measured targeted success."""

from __future__ import annotations

from typing import TYPE_CHECKING

from practical_dl.methods.attack_settings import AdversarialParameters
from practical_dl.project.reporting import Claim

if TYPE_CHECKING:  # nodes.py imports this module
    from practical_dl.pipelines.patch.nodes import PatchBar, PatchParameters, PatchResult


def _rates(sizes: list[int], rates: list[float]) -> str:
    """``4x4: 1.0%, 8x8: 5.0%, ...``"""
    return ", ".join(f"{s}x{s}: {100 * a:.1f}%" for s, a in zip(sizes, rates))


def patch_claims(patch: PatchParameters, adversarial: AdversarialParameters, results: tuple[PatchResult, ...]) -> list[Claim]:
    """The bar and the claims, each held or contradicted by the measured numbers."""
    bar = patch.bar
    base = next((r for r in results if bar is not None and r.model == bar.model), None)
    claims = [] if base is None else [_bar_claim(bar, base)]
    for r in results:
        claims += _growth_claims(r)
    for r in results:
        if r.model in adversarial.robust_models and base is not None and r is not base:
            claims.append(_defence_claim(r, base))
    return claims


def _bar_claim(bar: PatchBar, base: PatchResult) -> Claim:
    """The bar: a patch of at most ``bar.max_size`` pixels (asking for the target, or for any class) reaches ``bar.success_percent``."""
    limit, wanted = bar.max_size, float(bar.success_percent)
    small = [(s, a) for s, a in zip(base.sizes, base.success) if s <= limit]
    every = base.every_target
    candidates = [(a, f"asking for {base.target} at {s}x{s}") for s, a in small]
    if every is not None and every.size <= limit:
        candidates += [(a, f"asking for {t} at {every.size}x{every.size}") for t, a in enumerate(every.success)]
    best, where = max(candidates, default=(0.0, "no patch that small"))
    evidence = f"best {100 * best:.1f}% ({where}; asking for {base.target}: {_rates(*zip(*small)) if small else 'no size that small'})"
    if every is not None:
        evidence += (
            f"; not the choice of target: with every class as the target, a patch of {every.size}x{every.size} pixels reaches "
            + ", ".join(f"{t}: {100 * a:.1f}%" for t, a in enumerate(every.success))
        )
    if 100 * best < wanted:
        evidence += "; " + _out_of_reach(base, wanted)
    return Claim.check(
        f"A patch of at most {limit}x{limit} pixels makes {base.label} answer its target on at least {wanted:g}% of the test digits",
        100 * best >= wanted,
        evidence,
    )


def _out_of_reach(base: PatchResult, wanted: float) -> str:
    """What the curve says when the bar is not met: the patch the model needs, or that none of the sizes is enough."""
    reach = next((s for s, a in zip(base.sizes, base.success) if 100 * a >= wanted), None)
    needs = (
        f"needs a {reach}x{reach} patch ({100 * reach * reach / 784:.0f}% of the image) for {wanted:g}%"
        if reach
        else f"stays below {wanted:g}% up to {base.sizes[-1]}x{base.sizes[-1]} ({100 * base.success[-1]:.1f}%)"
    )
    return (
        f"with this attack the curve says it cannot: {base.label} {needs}; a patch small enough to be a sticker leaves most "
        "of a 28x28 digit visible, and the networks read the digit"
    )


def _growth_claims(r: PatchResult) -> list[Claim]:
    """For one model: the larger the patch, the more digits it turns; and it is the optimised pixels that do it."""
    growing = all(b >= a for a, b in zip(r.success, r.success[1:]))
    pairs = list(zip(r.success, r.random_patch_success))
    beats_noise = all(a >= n for a, n in pairs) and any(a > n for a, n in pairs)
    return [
        Claim.check(f"{r.label}: the larger the patch, the more digits it turns", growing, _rates(r.sizes, r.success)),
        Claim.check(
            f"{r.label}: it is the optimised pixels, not any square, that turn the digits "
            "(as many digits as random pixels at every size, more at some)",
            beats_noise,
            f"random pixels: {_rates(r.sizes, r.random_patch_success)} ({100 * r.already_target:.1f}% called {r.target} without a patch)",
        ),
    ]


def _defence_claim(robust: PatchResult, base: PatchResult) -> Claim:
    """L∞ adversarial training defends ``robust`` against the patch better than the bar's model ``base``."""
    shared = [(s, a, b) for s, a, b in zip(robust.sizes, robust.success, base.success) if s in base.sizes]
    return Claim.check(
        f"L∞ adversarial training defends against the patch ({robust.label} turned no more often than {base.label} "
        "at any size, less at some)",
        all(a <= b for _, a, b in shared) and any(a < b for _, a, b in shared),
        ", ".join(f"{s}x{s}: {100 * a:.1f}% vs {100 * b:.1f}%" for s, a, b in shared),
    )
