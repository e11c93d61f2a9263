"""The bicycle assignment: DDPM on 2D points (`presets`, `figures`, `study`, `report`)."""
