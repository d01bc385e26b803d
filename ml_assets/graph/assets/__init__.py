"""The assets and their checks: what each model computes, one module per domain."""
