"""Presets of the sprite UNet: the course's settings and a CPU-sized run.

A `SpritePreset` names the UNet width and the training settings that go with it; the flags of
``train_sprites.py`` override single values. Why each value: docs/design-notes.md#sprite-presets.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class SpritePreset:
    """Model and training settings of a sprite run (field names are the flags' names)."""

    name: str
    description: str
    epochs: int
    batch_size: int
    lr: float
    base_features: int  # UNet width F of the first level; the second has 2F
    repeat: int  # passes over the data per epoch
    augment: str  # "none" or "flip" (random left-right flips)
    schedule: str  # the noise schedule's kind (keras_ddpm.process.schedules.SCHEDULES)
    ema_momentum: float
    checkpoint_every: int
    plot_every: int
    prediction: str = "epsilon"  # what the UNet predicts (keras_ddpm.process.parameterization)
    min_snr_gamma: float | None = None  # min-SNR loss weighting; None: the unweighted eq. 14 loss
    attention_levels: tuple = ()  # UNet levels with self-attention (keras_ddpm.networks.unet.UNet)

    def as_dict(self) -> dict:
        return asdict(self)


PRESETS = {
    "course": SpritePreset(
        name="course",
        description="DeepLearning.AI's 'How diffusion models work' training loop: 64 base features, batch 100, "
                    "lr 1e-3 decaying linearly, 32 epochs, no EMA",
        epochs=32, batch_size=100, lr=1e-3, base_features=64, repeat=1, augment="none", schedule="linear",
        ema_momentum=0.0, checkpoint_every=4, plot_every=4,
    ),
    "cpu": SpritePreset(
        name="cpu",
        description="about 20 minutes on a 2-core CPU: 32 base features, v-prediction, batch 32, lr 2e-3 "
                    "decaying linearly, EMA 0.995, flips, cosine schedule, 4 passes over the data per epoch, 60 epochs",
        epochs=60, batch_size=32, lr=2e-3, base_features=32, repeat=4, augment="flip", schedule="cosine",
        ema_momentum=0.995, checkpoint_every=10, plot_every=10, prediction="v",
    ),
}

#: The flags a preset fills (each a field of `SpritePreset` of the same name).
PRESET_FIELDS = ("epochs", "batch_size", "lr", "base_features", "repeat", "augment", "schedule", "ema_momentum",
                 "checkpoint_every", "plot_every", "prediction", "min_snr_gamma", "attention_levels")


def get_preset(name: str) -> SpritePreset:
    """The preset called ``name``; `ValueError` naming the choices otherwise."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; expected one of {', '.join(PRESETS)}")
    return PRESETS[name]
