"""Live fan-out, per user: the channels (in-process hub, Redis) that tracking events and
notifications are published to after commit. What a tracking event's message says, and
when it goes, is the pipeline's (``plugin.tracking.pipeline.after_commit``)."""
