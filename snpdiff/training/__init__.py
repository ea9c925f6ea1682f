"""Training: the composition root (``run``), the LightningModule, callbacks, schedulers, loggers, the in-training
sample quality, and the rules for resuming and for backing off on out-of-memory errors."""
