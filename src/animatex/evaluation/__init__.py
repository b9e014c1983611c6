"""Evaluation: pixel metrics (`metrics`), feature networks and FID/FVD (`lpips`, `inception`, `i3d`,
`frechet`, `perceptual`), baselines (`baselines`) and the benchmark runner (`bench`). docs/metrics.md."""
