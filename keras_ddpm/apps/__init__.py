"""Layer 6, the applications: one folder per assignment, built on the library below.

- `bicycle`: DDPM on a 2D point cloud (presets, figures, checkpoint study, REPORT.md).
- `sprites`: a class-conditional UNet on 16x16 sprites (data, figures, DDPM vs DDIM evaluation).
- `gmm`: score-based models on a Gaussian mixture (the analytic mixture, its figures and checks).

Nothing in the library imports an application.
"""
