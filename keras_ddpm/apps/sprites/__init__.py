"""The sprites assignment: a UNet DDPM on 16x16 pixel art (`data`, `tfds_builder`, `figures`,
`evaluation`)."""
